package graph

// Outer-scope reads: a node owning subgraphs (If, Loop, Scan) depends on every value its
// subgraphs read from enclosing graphs, so those count as its inputs for consumers and ordering.
//
// They are computed bottom-up: a graph's free names are the names its own nodes read that it does
// not define, plus its subgraphs' free names that it does not define. Each graph caches its list
// until the model is next edited (every edit goes through edit.go, which bumps Model.edits), so
// loading or compiling n nested Ifs costs time about linear in n. Walking every inner node and
// looking each name up through every enclosing graph, as before, made 3,000 nested Ifs take
// minutes.

// outerScopeReads lists, once each, the names the node's subgraphs read from outside themselves.
func (n *Node) outerScopeReads() []string {
	if len(n.Subgraphs) == 0 {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for _, s := range n.SubgraphsInOrder() {
		for _, name := range s.freeNames() {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	return names
}

// freeNames lists, once each, the names read by g's nodes or its subgraphs that g does not
// define itself (they come from an enclosing graph).
func (g *Graph) freeNames() []string {
	if g.free.valid && g.Model != nil && g.free.edits == g.Model.edits {
		return g.free.names
	}
	var names []string
	seen := map[string]bool{}
	add := func(name string) {
		if name == "" || seen[name] || g.defines(name) {
			return
		}
		seen[name] = true
		names = append(names, name)
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs() {
			add(in)
		}
		for _, s := range n.SubgraphsInOrder() {
			for _, name := range s.freeNames() {
				add(name)
			}
		}
	}
	if g.Model != nil {
		g.free = freeNamesCache{names: names, edits: g.Model.edits, valid: true}
	}
	return names
}

// freeNamesCache is a graph's free names as of a given count of model edits.
type freeNamesCache struct {
	names []string
	edits uint64
	valid bool
}

// edited records that the model changed, so cached free names are recomputed.
func (g *Graph) edited() {
	if g.Model != nil {
		g.Model.edits++
	}
}

// defines reports whether g itself produces name, holds it as an initializer or takes it as an
// input.
func (g *Graph) defines(name string) bool {
	v, ok := g.values[name]
	return ok && (v.Producer != nil || v.Initializer != nil || v.Input != nil)
}
