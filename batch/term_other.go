//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package batch

import "io"

// terminalWidth is $COLUMNS, or 80: this platform has no window-size ioctl we use.
func terminalWidth(io.Writer) int { return columnsFromEnv() }
