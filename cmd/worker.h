/*
 * worker.h -- what the files of wq-worker share: the worker's state,
 * which every function is handed (there is no global one), and the
 * functions of each piece.
 *
 *   wq-worker.c    main(), signals, and the event loop: a poll(2) set of
 *                  named event kinds, timers, one turn of work per wakeup
 *   worker-opts.c  the options, their defaults and checks
 *   worker-proc.c  the processes it runs (--exec jobs, --on handlers):
 *                  slots, pipes, timeouts, exits
 *   worker-jobs.c  claiming jobs, running --sleep 0 work in the loop,
 *                  recording outcomes, recovering after a break
 *   worker-jq.c    --jq work: in a child process fed by the loop, each
 *                  job under its timeout
 *   worker-node.c  the node: coming up, heartbeats, going down, messages
 *                  (the built-in types answered by libwq's builtin.c),
 *                  the drain, what systemd is told, and the log
 */
#ifndef WORKER_H
#define WORKER_H

#include <sys/types.h>

#include <signal.h>

#include "cmd.h"

#define MAX_CAPTURE	(1024 * 1024)	/* a job's stdout: its result */
#define ERR_TAIL	4096		/* the end of its stderr kept */
#define HANDLER_SLOTS	4		/* --on handlers at once */
#define PROGRESS_FD	3		/* a job's WQ_PROGRESS_FD */
#define PROGRESS_MS	250		/* a job's progress, written at most
					   this often */
#define PROGRESS_LINE	1024		/* the longest progress line */

enum work { WORK_EXEC, WORK_JQ, WORK_SLEEP };
enum proc_kind { PROC_JOB, PROC_HANDLER };

struct capture {
	char	*p;
	size_t	 n;
	int	 truncated;
};

/* A slot: one running job (or an --on handler's process). */
struct slot {
	int		 used;
	enum proc_kind	 kind;
	struct wq_claim	 claim;
	struct wq_msg	 msg;		/* PROC_HANDLER */
	pid_t		 pid;
	int		 in_fd, out_fd, err_fd;
	int		 prog_fd;	/* WQ_PROGRESS_FD's other end */
	char		 prog_buf[PROGRESS_LINE];
	size_t		 prog_len;	/* 0 after a line too long */
	int		 prog_skip;	/* in a line too long */
	char		*prog;		/* the latest, not written yet */
	int64_t		 prog_at;	/* the last written */
	char		*in;
	size_t		 in_len, in_off;
	struct capture	 out, err;
	int64_t		 started, deadline, wake_at;
	int		 exited, status, timed_out, handback;
	int		 cancelled;	/* killed: its job was cancelled */
};

struct jqshared;

/* A job given to --jq. */
struct jqjob {
	struct wq_claim	 c;
	int		 cancelled;	/* its result is not wanted */
	int		 stuck;		/* the child was killed at its
					   timeout */
};

/* --jq: the child that runs the program, and the jobs given to it. */
struct jqrun {
	struct jqjob	*q;		/* q[h..qn): no result yet */
	size_t		 h, qn, qcap;
	size_t		 sent;		/* q[h..sent) went to this child */
	size_t		 got;		/* results it gave */
	pid_t		 pid;		/* 0: none */
	int		 in_fd, out_fd;
	char		*in, *buf;	/* to write; read, not a line yet */
	size_t		 in_len, in_off, len, cap;
	struct jqshared	*sh;		/* the job it runs, since when */
	long		 timeout_s;
	int		 exited, status, killed, handback;
	int		 for_cancel;	/* killed: its next job was cancelled */
};

struct handler {
	char	*type;
	char	*cmd;
};

struct worker {
	struct wq		*wq;
	struct wq_worker_opts	 o;

	/* The options (worker-opts.c). */
	enum work		 work;
	const char		*exec_cmd;
	struct wq_jq		*jq;
	double			 sleep_s;
	long			 batch;
	double			 grace_s;
	double			 handler_timeout_s;
	long			 backoff_ms;
	struct handler		*handlers;
	size_t			 nhandlers;
	int			 log_json;
	int			 quiet;

	/* What runs, and what ended but is not recorded yet. */
	struct slot		*slots;
	size_t			 nslots;	/* concurrency + handlers */
	struct jqrun		 jq_run;
	struct wq_outcome	*outs;
	size_t			 nouts, outcap;

	/* The node. */
	struct wq_hints		*hints;
	int			 up;		/* connected and registered */
	int64_t			 reconnect_at;
	int64_t			 next_beat;
	int			 claim_now;
	int			 claim_on_end;	/* the last claim took some:
						   claim when a job ends */
	int			 promote_now;	/* ask when jobs are due */
	int64_t			 next_promote;	/* then, 0: none known */
	int			 msg_now;
	int			 cron_now;	/* a full sweep of schedules:
						   sweep again at once */
	int			 draining;
	int			 name_lost;	/* another holds the name */
	int64_t			 drain_deadline;
	long			 processed, failed;
	int64_t			 started_at;

	/* The service manager (systemd's Type=notify), worker-node.c. */
	int			 ready;		/* READY=1 was sent */
	long			 watchdog_ms;	/* 0: no watchdog */
	int64_t			 next_watchdog;

	/* The last error Redis answered, and when it was logged. */
	char			*last_err;
	int64_t			 last_err_at;
};

/* wq-worker.c: signals seen (SIGTERM and SIGINT count up). */
extern volatile sig_atomic_t	 worker_got_term;

/* worker-opts.c */
void		 worker_options(struct worker *, int, char **);
void		 worker_options_free(struct worker *);

/* worker-proc.c */
int		 worker_nrunning(struct worker *, enum proc_kind);
jv		 worker_running_ids(struct worker *);
void		 worker_slots_init(struct worker *);
struct slot	*worker_free_slot(struct worker *);
void		 worker_start_job(struct worker *, struct slot *,
		    struct wq_claim *);
int		 worker_start_handler(struct worker *, struct wq_msg *,
		    const char *);
void		 worker_kill_slot(struct slot *);
void		 worker_read_output(struct slot *, int);
void		 worker_read_progress(struct slot *);
void		 worker_write_input(struct slot *);
void		 worker_reap_children(struct worker *);
void		 worker_service_slots(struct worker *);

/* worker-jq.c */
void		 worker_jq_start(struct worker *, struct wq_claim *, size_t);
size_t		 worker_jq_running(struct worker *);
jv		 worker_jq_ids(struct worker *, jv);
int		 worker_jq_cancel(struct worker *, const char *, long);
int64_t		 worker_jq_deadline(struct worker *);
void		 worker_jq_read(struct worker *);
void		 worker_jq_write(struct worker *);
void		 worker_jq_stop(struct worker *);
int		 worker_jq_reaped(struct worker *, pid_t, int);
void		 worker_jq_handback(struct worker *);
void		 worker_jq_service(struct worker *);

/* worker-jobs.c */
size_t		 worker_claimable(struct worker *);
void		 worker_outcome_add(struct worker *, struct wq_claim *, int,
		    jv, const char *);
void		 worker_flush_outcomes(struct worker *);
void		 worker_claim(struct worker *);
void		 worker_promote(struct worker *);
void		 worker_flush_progress(struct worker *, struct slot *);
int64_t		 worker_progress_due(struct worker *);
int		 worker_recover(struct worker *);

/* worker-node.c */
__attribute__((format(printf, 4, 5)))
void		 worker_log(struct worker *, const char *, jv, const char *,
		    ...);
void		 worker_come_up(struct worker *);
void		 worker_went_down(struct worker *);
int		 worker_failed(struct worker *, int);
void		 worker_heartbeat(struct worker *);
void		 worker_sweep_rest(struct worker *, int, int);
void		 worker_read_inbox(struct worker *);
void		 worker_reply(struct worker *, struct wq_msg *, const char *,
		    jv);
void		 worker_drain_tick(struct worker *);
void		 worker_leave(struct worker *);
void		 worker_notify_init(struct worker *);
void		 worker_watchdog(struct worker *);

#endif
