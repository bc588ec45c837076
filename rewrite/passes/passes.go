// Package passes is the ordered list of fcconv's rewrite passes, as `--passes` names them. It sits
// above rewrite and the pass packages (rewrite cannot list its subpackages without an import
// cycle), and holds no state: the list is fixed at build time.
package passes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/rewrite/bottleneck"
	"github.com/fcconv/fcconv/rewrite/fctoconv"
)

// All lists every pass, in the order the README documents them.
var All = []*rewrite.Pass{fctoconv.Pass, bottleneck.Pass}

// Lookup returns the passes named in a comma-separated list, in that order.
func Lookup(names string) ([]*rewrite.Pass, error) {
	var out []*rewrite.Pass
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		p := byName(name)
		if p == nil {
			return nil, fmt.Errorf("unknown pass %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pass named")
	}
	return out, nil
}

func byName(name string) *rewrite.Pass {
	for _, p := range All {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Names lists the passes' names, sorted.
func Names() []string {
	var names []string
	for _, p := range All {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}
