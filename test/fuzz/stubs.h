/* stubs.h: what the fuzz harness reads from stubs.c */
#ifndef SEGMENTATION_FUZZ_STUBS_H
#define SEGMENTATION_FUZZ_STUBS_H

#include <setjmp.h>

extern MemoryContext StubRootContext(void);
extern Size stub_alloc_bytes;
extern Size stub_alloc_budget;
extern bool stub_alloc_strict;
extern bool stub_alloc_over_budget;
extern sigjmp_buf *stub_error_jump;
extern int	stub_error_sqlstate;
extern char stub_error_message[1024];
extern char stub_error_detail[1024];
extern MemoryContext stub_agg_context;

#endif
