// Package units formats counts for people.
package units

import (
	"fmt"
	"strconv"
)

// Count prints 1812345678 as "1.81 G", 512000 as "512.00 K".
func Count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f G", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}
