package main

import (
	"fmt"
	"slices"
	"strings"
)

// namingFile makes err name the files it is about: an error from deep in the engine names the node
// and value but not the model, which a user running many models needs first. An error that already
// names one of them is left as it is.
func namingFile(err error, paths ...string) error {
	if err == nil || len(paths) == 0 {
		return err
	}
	for _, p := range paths {
		if strings.Contains(err.Error(), p) {
			return err
		}
	}
	return fmt.Errorf("%s: %w", strings.Join(slices.Compact(slices.Clone(paths)), ", "), err)
}
