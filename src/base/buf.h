/* Growable byte buffer: every renderer writes into one, so rendering stays a
 * pure function of its input and the caller decides where the bytes go. */
#ifndef PGBE_BUF_H
#define PGBE_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Wipe the contents before freeing: buffers that held a secret use this. */
void buf_free_secret(struct buf *b);
void buf_add(struct buf *b, const char *s, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminated contents ("" when empty); NULL only after an allocation failure. */
const char *buf_str(struct buf *b);

#endif
