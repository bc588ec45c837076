package graph

import (
	"fmt"
	"io"
	"os"

	"github.com/fcconv/fcconv/onnxpb"
)

// Model-level checks that protobuf decoding cannot make: versions and duplicate outputs. A model
// failing them is malformed (an exporter bug or a damaged file) and running it anyway would give
// results of unknown meaning.

// NewestIRVersion is the newest ONNX IR version fcconv's protobuf definitions describe.
const NewestIRVersion = int64(onnxpb.Version_IR_VERSION)

// NewestOpset is the newest version of the default ONNX operator set whose changes fcconv's engine
// and passes implement (opset 21 added block-wise QuantizeLinear/DequantizeLinear). A model
// importing a newer one is read with the operator definitions of this one.
const NewestOpset = 21

// WarningOutput receives warnings about models that load but may be read differently from what
// their newer producer meant (newer IR or opset); nil discards them.
var WarningOutput io.Writer = os.Stderr

// checkVersions rejects an IR version or a default-domain opset of 0 (or below): no ONNX producer
// writes one, and the operator semantics of such a model are undefined.
func checkVersions(mp *onnxpb.ModelProto) error {
	if mp.GetIrVersion() <= 0 {
		return fmt.Errorf("the model's ir_version is %d (missing or invalid); an ONNX model states the IR version it was written with (1 to %d)", mp.GetIrVersion(), NewestIRVersion)
	}
	for _, o := range mp.OpsetImport {
		if o.GetVersion() <= 0 {
			return fmt.Errorf("the model imports operator set %q at version %d; opset versions start at 1", domainName(o.GetDomain()), o.GetVersion())
		}
	}
	return nil
}

// versionWarnings describe the versions newer than fcconv knows, and what is assumed instead.
func versionWarnings(mp *onnxpb.ModelProto) []string {
	var warnings []string
	if v := mp.GetIrVersion(); v > NewestIRVersion {
		warnings = append(warnings, fmt.Sprintf("IR version %d is newer than the newest fcconv knows (%d); reading the model as IR version %d", v, NewestIRVersion, NewestIRVersion))
	}
	for _, o := range mp.OpsetImport {
		if d := o.GetDomain(); (d == "" || d == "ai.onnx") && o.GetVersion() > NewestOpset {
			warnings = append(warnings, fmt.Sprintf("opset %d of the default ONNX domain is newer than the newest fcconv implements (%d); operators are run with their opset-%d definitions", o.GetVersion(), NewestOpset, NewestOpset))
		}
	}
	return warnings
}

// warnAboutVersions writes the version warnings of a model loaded from path.
func warnAboutVersions(path string, mp *onnxpb.ModelProto) {
	if WarningOutput == nil {
		return
	}
	for _, w := range versionWarnings(mp) {
		fmt.Fprintf(WarningOutput, "fcconv: warning: %s: %s\n", describe(path), w)
	}
}

// checkOutputsUnique rejects a graph listing the same output twice: its consumers (and fcconv's
// reports) could not tell the two apart.
func (g *Graph) checkOutputsUnique() error {
	seen := map[string]bool{}
	for _, o := range g.Proto.Output {
		if seen[o.GetName()] {
			return fmt.Errorf("graph output %q is listed twice", o.GetName())
		}
		seen[o.GetName()] = true
	}
	return nil
}

func domainName(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}
