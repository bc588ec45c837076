package bottleneck

import (
	"fmt"
	"math"

	"github.com/fcconv/fcconv/internal/lowrank"
	"github.com/fcconv/fcconv/rewrite"
)

// policyKind is how the bottleneck pass picks each layer's rank.
type policyKind int

const (
	policyExact policyKind = iota
	policyFixedRank
	policyRatio
	policyEnergy
	policyMaxError
)

// rankPolicy is the rank policy read from Options.
type rankPolicy struct {
	kind     policyKind
	rank     int
	ratio    float64
	energy   float64
	maxError float64
	// calibrated: factorise with the input covariance (CalibrationInputs given, lossy policy).
	calibrated bool
}

// choosePolicy applies Options' precedence: Rank, RankRatio, RankEnergy, MaxError, exact.
func choosePolicy(o Options) rankPolicy {
	p := rankPolicy{rank: o.Rank, ratio: o.RankRatio, energy: o.RankEnergy, maxError: o.MaxError}
	switch {
	case o.Rank > 0:
		p.kind = policyFixedRank
	case o.RankRatio > 0:
		p.kind = policyRatio
	case o.RankEnergy > 0:
		p.kind = policyEnergy
	case o.MaxError > 0:
		p.kind = policyMaxError
	default:
		p.kind = policyExact
	}
	p.calibrated = p.kind != policyExact && o.CalibrationInputs != ""
	return p
}

func (p rankPolicy) String() string {
	switch p.kind {
	case policyFixedRank:
		return fmt.Sprintf("rank %d", p.rank)
	case policyRatio:
		return fmt.Sprintf("rank ratio %g", p.ratio)
	case policyEnergy:
		return fmt.Sprintf("energy %g", p.energy)
	case policyMaxError:
		return fmt.Sprintf("max error %g", p.maxError)
	}
	return "exact"
}

// rankChoice is a layer the pass factorises, at which rank, and the error that costs.
type rankChoice struct {
	site *convSite
	rank int
	// layerError is the layer's own relative output error when measured on inputs, else the
	// relative weight error (measured says which).
	layerError float64
	measured   bool
	// modelError is the whole model's measured error under MaxError (-1 otherwise).
	modelError float64
}

// selectByPolicy picks each site's rank under a fixed policy (everything but MaxError).
func selectByPolicy(ctx *rewrite.Context, sites []*convSite, p rankPolicy) []rankChoice {
	var choices []rankChoice
	for _, s := range sites {
		r, reason := policyRank(s, p)
		if reason != "" {
			ctx.Declined(s.node, "%s", reason)
			continue
		}
		choices = append(choices, rankChoice{site: s, rank: r, modelError: -1})
	}
	return choices
}

// reportErrors fills in each choice's error: measured on the layer when the site has samples,
// else the weight's.
func reportErrors(choices []rankChoice, env *measureEnv) error {
	for i := range choices {
		c := &choices[i]
		fact, err := c.site.factorisation()
		if err != nil {
			return err
		}
		if len(c.site.samples) > 0 {
			if e, err := env.layerError(c.site, c.rank); err == nil {
				c.layerError, c.measured = e, true
				continue
			}
		}
		c.layerError = fact.WeightError(c.rank)
	}
	return nil
}

// policyRank is the rank a fixed policy gives a site, or why the site is declined.
func policyRank(s *convSite, p rankPolicy) (int, string) {
	full := s.fullRank()
	values := s.values
	var r int
	switch p.kind {
	case policyExact:
		r = lowrank.NumericalRank(values, s.cout*s.taps, s.cin)
		if r == 0 {
			return 0, "the weight is all zeros (the conv is its bias): not a bottleneck case"
		}
		if r >= full {
			return 0, fmt.Sprintf("full rank: numerical rank %d of %d, no saving", r, full)
		}
		if r > s.breakEven {
			return 0, fmt.Sprintf("numerical rank %d of %d is too high to save MACs (break-even rank %d)", r, full, s.breakEven)
		}
		return r, ""
	case policyFixedRank:
		r = min(p.rank, full)
	case policyRatio:
		r = int(math.Round(p.ratio * float64(full)))
	case policyEnergy:
		r = lowrank.EnergyRank(values, p.energy)
	}
	r = max(r, 1)
	if r >= full {
		return 0, fmt.Sprintf("rank %d of %d (%s): no saving", r, full, p)
	}
	if r > s.breakEven {
		return 0, fmt.Sprintf("rank %d of %d (%s) is too high to save MACs (break-even rank %d)", r, full, p, s.breakEven)
	}
	return r, ""
}

// applyChoices rewrites (unless a dry run) and reports each chosen layer.
func applyChoices(ctx *rewrite.Context, choices []rankChoice, env *measureEnv, p rankPolicy) error {
	for _, c := range choices {
		s := c.site
		reduce, expand := s.convWeights(c.rank)
		convName := s.name()
		reduceName := convName + "_reduce"
		if !ctx.DryRun {
			var err error
			if reduceName, err = factoriseConv(ctx.Graph, s.node, reduce, expand, s.strideReduced); err != nil {
				return fmt.Errorf("%v: %w", s.node, err)
			}
		}
		ctx.Applied(rewrite.Application{
			Op:       "Conv",
			Replaced: []string{convName},
			NewNodes: []string{reduceName, convName},
			Detail: fmt.Sprintf("Conv %s %d->%d became Conv 1x1 %d->%d + Conv %s %d->%d (rank %d of %d, %s)",
				s.kernelText(), s.cin, s.cout, s.cin, c.rank, s.kernelText(), c.rank, s.cout, c.rank, s.fullRank(), p),
			MACsBefore: s.macsBefore(),
			MACsAfter:  s.macsAt(c.rank),
			Extra:      choiceExtra(c, env, p),
		})
	}
	return nil
}

func choiceExtra(c rankChoice, env *measureEnv, p rankPolicy) map[string]any {
	s := c.site
	extra := map[string]any{
		"c_in": s.cin, "c_out": s.cout, "kernel": s.kernel, "rank": c.rank, "full_rank": s.fullRank(),
		"break_even_rank": s.breakEven, "policy": p.String(), "factorisation": "svd",
	}
	if s.fact.Weighted {
		extra["factorisation"] = "input-covariance weighted"
		extra["calibrated_on"] = env.calibrationSource
	}
	if c.measured {
		extra["layer_rel_error"] = c.layerError
		extra["measured_on"] = env.source
	} else {
		extra["weight_rel_error"] = c.layerError
	}
	if c.modelError >= 0 {
		extra["model_rel_error"] = c.modelError
	}
	if s.strideReduced {
		extra["stride_on_reduce"] = true
	}
	return extra
}
