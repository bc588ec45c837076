#include "textflag.h"

// func pause()
//
// PAUSE tells the core this is a spin-wait loop: it stops issuing the loop's loads for a few
// dozen cycles, which leaves the core's resources to a sibling thread and saves power.
TEXT ·pause(SB), NOSPLIT, $0-0
	PAUSE
	RET
