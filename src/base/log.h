/* The one logger.  Every line starts with the program name; errno survives a
 * call.  Secrets never reach it: callers redact at the source. */
#ifndef PGBE_LOG_H
#define PGBE_LOG_H

enum log_level { LOG_INFO, LOG_WARNING, LOG_ERROR };

/* Tests: send every line to B instead of stderr (NULL: back to stderr). */
struct buf;
void log_capture(struct buf *b);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
