/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every domain of the ABI at once, for the layout test and its BPF object
 * only: product code includes the domains it uses, never this. */
#ifndef MYELIN_TEST_ABI_ALL_H
#define MYELIN_TEST_ABI_ALL_H

#include "myelin/abi/common.h"
#include "myelin/abi/net.h"
#include "myelin/abi/lb.h"
#include "myelin/abi/nat.h"
#include "myelin/abi/process.h"
#include "myelin/abi/sensors.h"
#include "myelin/abi/tracing.h"

#define MYELIN_ABI_STRUCTS(X) \
	MYELIN_ABI_COMMON_STRUCTS(X) \
	MYELIN_ABI_NET_STRUCTS(X) \
	MYELIN_ABI_LB_STRUCTS(X) \
	MYELIN_ABI_NAT_STRUCTS(X) \
	MYELIN_ABI_PROCESS_STRUCTS(X) \
	MYELIN_ABI_TRACING_STRUCTS(X) \
	MYELIN_ABI_SENSORS_STRUCTS(X)

#define MYELIN_ABI_ENUMS(X) \
	MYELIN_ABI_COMMON_ENUMS(X) \
	MYELIN_ABI_NET_ENUMS(X) \
	MYELIN_ABI_LB_ENUMS(X) \
	MYELIN_ABI_NAT_ENUMS(X) \
	MYELIN_ABI_PROCESS_ENUMS(X) \
	MYELIN_ABI_TRACING_ENUMS(X) \
	MYELIN_ABI_SENSORS_ENUMS(X)

#endif /* MYELIN_TEST_ABI_ALL_H */
