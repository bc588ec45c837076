package graph

import "strconv"

// UniqueName returns base if no value, node or initializer in the model uses it yet, else base_2,
// base_3, ... (the lowest free suffix).
//
// The names in use are counted in a set kept for the whole model, built on the first call and then
// updated by every edit (edit.go), so a pass that names one new node per layer costs time linear
// in the model, not quadratic: walking every graph on every call made a 20,000-node chain take
// tens of seconds.
func (g *Graph) UniqueName(base string) string {
	set := g.Model.nameSet()
	if !set.used(base) {
		return base
	}
	for i := max(set.nextSuffix[base], 2); ; i++ {
		if c := base + "_" + strconv.Itoa(i); !set.used(c) {
			// Suffixes below i are all taken; a removal below it resets the search (remove).
			set.nextSuffix[base] = i
			return c
		}
	}
}

// nameSet counts the uses of each name: a name is one graph's value (input, initializer or node
// output) or a node's name, in any graph of the model.
type nameSet struct {
	uses map[string]int
	// nextSuffix is, per base, the lowest suffix UniqueName may still find free (default 2).
	nextSuffix map[string]int
}

// nameSet returns the model's name set, building it on first use.
func (m *Model) nameSet() *nameSet {
	if m.names != nil {
		return m.names
	}
	set := &nameSet{uses: map[string]int{}, nextSuffix: map[string]int{}}
	m.Graph.walkGraphs(func(s *Graph) {
		for name := range s.values {
			set.uses[name]++
		}
		for _, n := range s.Nodes {
			set.add(n.Name())
		}
	})
	m.names = set
	return set
}

func (s *nameSet) used(name string) bool { return s.uses[name] > 0 }

// add records one more use of name (nil set: not tracking yet; "" is no name).
func (s *nameSet) add(name string) {
	if s != nil && name != "" {
		s.uses[name]++
	}
}

// remove records one use of name fewer.
func (s *nameSet) remove(name string) {
	if s == nil || name == "" {
		return
	}
	if s.uses[name]--; s.uses[name] <= 0 {
		delete(s.uses, name)
		// The freed name may be a suffixed one below a base's search start: search from 2 again.
		clear(s.nextSuffix)
	}
}
