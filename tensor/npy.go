package tensor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ReadNpy reads a NumPy .npy file (format 1.0-3.0, C order, little-endian or byte-sized types).
func ReadNpy(path string) (*Tensor, error) {
	b, err := readRegularFile(path)
	if err != nil {
		return nil, err
	}
	t, err := DecodeNpy(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return t, nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

var npyTypes = map[string]DType{
	"<f4": Float, "<f8": Double, "<i8": Int64, "<i4": Int32, "|u1": Uint8, "|i1": Int8, "|b1": Bool,
	"<f2": Float16, "<i2": Int16, "<u2": Uint16, "<u4": Uint32, "<u8": Uint64,
}

// DecodeNpy decodes the bytes of a .npy file. The header's shape is checked against the data
// present before anything is allocated.
func DecodeNpy(b []byte) (*Tensor, error) {
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		return nil, fmt.Errorf("not a .npy file (no \\x93NUMPY magic)")
	}
	var headerLen, start int
	if b[6] == 1 {
		headerLen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	} else {
		if len(b) < 12 {
			return nil, fmt.Errorf("truncated .npy header")
		}
		headerLen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	}
	if start+headerLen > len(b) {
		return nil, fmt.Errorf("truncated .npy header")
	}
	header := string(b[start : start+headerLen])
	descr := npyDescr.FindStringSubmatch(header)
	shapeM := npyShape.FindStringSubmatch(header)
	if descr == nil || shapeM == nil {
		return nil, fmt.Errorf("unreadable .npy header %q", header)
	}
	if f := npyFortran.FindStringSubmatch(header); f != nil && f[1] == "True" {
		return nil, fmt.Errorf(".npy in Fortran order is not supported; save it with np.ascontiguousarray")
	}
	dt, ok := npyTypes[descr[1]]
	if !ok {
		return nil, fmt.Errorf(".npy element type %q is not supported", descr[1])
	}
	var shape []int
	for _, f := range strings.Split(shapeM[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad .npy shape %q", shapeM[1])
		}
		shape = append(shape, d)
	}
	data := append([]byte(nil), b[start+headerLen:]...)
	return fromRaw("npy", dt, shape, data)
}

// WriteNpy writes the tensor as a .npy file.
func WriteNpy(path string, t *Tensor) error {
	var descr string
	for k, v := range npyTypes {
		if v == t.DType {
			descr = k
		}
	}
	if descr == "" {
		return fmt.Errorf("type %v cannot be written to .npy", t.DType)
	}
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	buf.Write(t.RawBytes())
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
