package tensor

import (
	"github.com/fcconv/fcconv/internal/safefile"
	"google.golang.org/protobuf/encoding/protowire"
)

// A model-zoo input_N.pb may hold an ONNX SequenceProto or OptionalProto instead of a
// TensorProto. Protobuf has no type tag, and decoding one of those as a TensorProto "succeeds"
// with nonsense (the name read as packed dims), so the wire layout is inspected first.
//
// The layouts share field numbers 1 and 2 (TensorProto: dims, data_type; SequenceProto and
// OptionalProto: name, elem_type), but differ in field 3: a TensorProto's is a Segment holding only
// the varints begin=1 and end=2, while a sequence's or optional's is a whole TensorProto
// (tensor_values / tensor_value). And only a TensorProto has fields beyond 7 (name=8,
// raw_data=9, ...).

// looksLikeSequenceOrOptional reports whether b is better read as a SequenceProto or
// OptionalProto than as a TensorProto.
func looksLikeSequenceOrOptional(b []byte) bool {
	nestedValue := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return false
		}
		if num >= 8 {
			return false // only a TensorProto has these fields
		}
		if num == 3 && typ == protowire.BytesType {
			payload, _ := protowire.ConsumeBytes(b)
			nestedValue = nestedValue || !isSegment(payload)
		}
		b = b[m:]
	}
	return nestedValue
}

// isSegment reports whether b parses as a TensorProto.Segment: varint fields 1 and 2 only.
func isSegment(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || (num != 1 && num != 2) || typ != protowire.VarintType {
			return false
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return false
		}
		b = b[m:]
	}
	return true
}

// readRegularFile reads a tensor file, refusing FIFOs, devices and directories (which would hang
// or make no sense) with a clear error.
func readRegularFile(path string) ([]byte, error) {
	return safefile.ReadRegular(path)
}
