/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What a TracingPolicy action does to the process, the same for every kind
 * of hook (hook_run.h for tracepoints, uprobes and kprobes; lsm.bpf.c):
 * Sigkill and Signal send the signal now (it is delivered on the way back
 * to user space), Override is the errno the program returns (fmod_ret: the
 * function does not run; LSM: the operation is refused). Returns what the
 * program returns. Whether the hit is posted (all but NoPost) is the
 * caller's. Calls bpf_send_signal only: C++ tests stub it.
 */
#pragma once

#include "myelin/abi/tracing.h"

static __always_inline int hook__act(__u8 action, __s32 arg)
{
	if (action == MYELIN_HOOK_ACT_SIGKILL)
		bpf_send_signal(9);
	else if (action == MYELIN_HOOK_ACT_SIGNAL && arg > 0 && arg < 65)
		bpf_send_signal(arg);
	return action == MYELIN_HOOK_ACT_OVERRIDE ? arg : 0;
}
