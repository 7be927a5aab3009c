/*
 * notify.c -- tell the service manager how this node is doing, in
 * systemd's notification protocol (sd_notify(3)): a datagram of
 * "NAME=VALUE" lines sent to the unix socket named by $NOTIFY_SOCKET
 * (a path, or "@name" in the abstract namespace).
 *
 * The protocol is spoken here rather than through libsystemd's
 * sd_notify() because it is this small (socket, sendto, close) and
 * because those three calls are all that the API's Kore workers may make
 * under their seccomp sandbox: libsystemd's sd_notify() also calls
 * sendmsg() and setsockopt(), which the sandbox would have to allow, and
 * the package would depend on libsystemd0 for fifty lines.
 *
 * wq_notify_init() reads the environment once and removes the variables
 * from it, so that the processes the node starts (--exec jobs, handlers)
 * neither inherit nor can speak for it; the Kore parent calls it before
 * it forks its workers, which keep the address.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wq.h"

static struct sockaddr_un	notify_addr;
static socklen_t		notify_len;
static long			watchdog_ms;

int
wq_notify_init(void)
{
	const char	*sock, *usec, *pid;
	char		*end;
	size_t		 n;
	unsigned long long v;
	long		 p;
	int		 rc = 0;

	notify_len = 0;
	watchdog_ms = 0;
	sock = getenv("NOTIFY_SOCKET");
	if (sock != NULL && *sock != '\0') {
		n = strlen(sock);
		if ((sock[0] != '/' && sock[0] != '@') ||
		    n >= sizeof(notify_addr.sun_path))
			rc = -1;
		else {
			memset(&notify_addr, 0, sizeof(notify_addr));
			notify_addr.sun_family = AF_UNIX;
			memcpy(notify_addr.sun_path, sock, n);
			/* "@name": abstract namespace, no NUL at the end. */
			if (sock[0] == '@')
				notify_addr.sun_path[0] = '\0';
			notify_len = (socklen_t)(offsetof(struct sockaddr_un,
			    sun_path) + n + (sock[0] == '/'));
			rc = 1;
		}
	}
	usec = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (rc == 1 && usec != NULL && *usec != '\0') {
		errno = 0;
		v = strtoull(usec, &end, 10);
		if (errno != 0 || *end != '\0' || v == 0)
			rc = -1;
		else if (pid != NULL && *pid != '\0' &&
		    ((p = strtol(pid, &end, 10)) <= 0 || *end != '\0' ||
		    (pid_t)p != getpid()))
			;		/* the watchdog is another process's */
		else
			watchdog_ms = v >= 1000ULL * 86400 * 1000 ?
			    86400L * 1000 : (long)((v + 999) / 1000);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return rc;
}

long
wq_notify_watchdog_ms(void)
{
	return watchdog_ms;
}

int
wq_notify(const char *state)
{
	int	fd, saved;
	ssize_t	n;

	if (notify_len == 0)
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (const struct sockaddr *)&notify_addr, notify_len);
	saved = errno;
	close(fd);
	errno = saved;
	return n == -1 ? -1 : 1;
}
