/* The Vmm's snapshot storage (VmmSnapshotOps): migration/snapshot.c's
 * directory format with the configuration as vm.create's VmConfig JSON.
 * main.c (and the API tests) hand it to vmm_set_snapshot_ops(). */
#pragma once
#include "hypervisor/vmm.h"

extern const VmmSnapshotOps api_snapshot_ops;
