/*
 * md5.c -- MD5 (RFC 1321), for callback ids only.
 *
 * The callback id is the MD5 of a job's data, as in the system wq grew
 * from, so that clients of that system get the same ids.  MD5 is not used
 * for anything that needs collision resistance: it names jobs, and the
 * idempotency it gives is between cooperating clients.
 */
#include <stdint.h>
#include <string.h>

#include "wq-int.h"

struct md5 {
	uint32_t	h[4];
	uint64_t	len;
	unsigned char	buf[64];
	size_t		used;
};

static const uint32_t md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
	0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
	0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
	0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
	0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391
};

static const unsigned char md5_r[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21
};

/* One step: a = b + ((a + f + k + w) <<< r), then the words turn. */
#define STEP(f, i, g) do {						\
	x = a + (f) + md5_k[i] + w[g];					\
	a = d;								\
	d = c;								\
	c = b;								\
	b = b + (x << md5_r[i] | x >> (32 - md5_r[i]));			\
} while (0)

static void
md5_block(struct md5 *m, const unsigned char *p)
{
	uint32_t	w[16], a, b, c, d, x;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 |
		    (uint32_t)p[i * 4 + 2] << 16 | (uint32_t)p[i * 4 + 3] << 24;
	a = m->h[0];
	b = m->h[1];
	c = m->h[2];
	d = m->h[3];
	/*
	 * The four rounds, each its own loop: no branch or division a step,
	 * and unrolled, the constants and rotations are immediates.
	 */
#pragma GCC unroll 16
	for (i = 0; i < 16; i++)
		STEP((b & c) | (~b & d), i, i);
#pragma GCC unroll 16
	for (i = 16; i < 32; i++)
		STEP((d & b) | (~d & c), i, (5 * i + 1) & 15);
#pragma GCC unroll 16
	for (i = 32; i < 48; i++)
		STEP(b ^ c ^ d, i, (3 * i + 5) & 15);
#pragma GCC unroll 16
	for (i = 48; i < 64; i++)
		STEP(c ^ (b | ~d), i, (7 * i) & 15);
	m->h[0] += a;
	m->h[1] += b;
	m->h[2] += c;
	m->h[3] += d;
}
#undef STEP

static void
md5_update(struct md5 *m, const unsigned char *p, size_t n)
{
	size_t	take;

	m->len += n;
	while (n > 0) {
		take = 64 - m->used;
		if (take > n)
			take = n;
		memcpy(m->buf + m->used, p, take);
		m->used += take;
		p += take;
		n -= take;
		if (m->used == 64) {
			md5_block(m, m->buf);
			m->used = 0;
		}
	}
}

void
wq_md5_hex(const void *data, size_t n, char out[WQ_ID_LEN + 1])
{
	static const char	 hex[] = "0123456789ABCDEF";
	static const unsigned char pad[64] = { 0x80 };
	struct md5		 m;
	unsigned char		 len[8];
	uint64_t		 bits;
	int			 i;

	m.h[0] = 0x67452301;
	m.h[1] = 0xefcdab89;
	m.h[2] = 0x98badcfe;
	m.h[3] = 0x10325476;
	m.len = 0;
	m.used = 0;
	md5_update(&m, data, n);
	bits = m.len * 8;
	/* 0x80, then zeros up to 56 bytes into a block */
	md5_update(&m, pad, m.used < 56 ? 56 - m.used : 120 - m.used);
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (8 * i));
	md5_update(&m, len, 8);
	for (i = 0; i < 16; i++) {
		unsigned char byte;

		byte = (unsigned char)(m.h[i / 4] >> (8 * (i % 4)));

		out[i * 2] = hex[byte >> 4];
		out[i * 2 + 1] = hex[byte & 15];
	}
	out[WQ_ID_LEN] = '\0';
}
