// SPDX-License-Identifier: Apache-2.0
// Offset-range arithmetic (see offset_range.h); the driver's batch loop applies it.
#include "driver/offset_range.h"

#include <math.h>

int64_t
rl_range_until(const rl_range_in *in, int64_t batch_ms)
{
	int64_t until = in->latest;
	if (in->target >= 0 && in->target < until)
		until = in->target;
	if (in->rate > 0) {
		double allowed = floor(in->rate * (double)batch_ms / 1000.0);
		if (allowed < 1)
			allowed = 1;
		if (allowed < (double)(until - in->from))
			until = in->from + (int64_t)allowed;
	}
	return until < in->from ? in->from : until;
}
