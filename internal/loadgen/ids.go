package loadgen

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/google/uuid"
)

// IDSpace makes the event ids of one phase of a run. An id has the layout
// of a UUIDv7, as the SDKs send (sdk/bizevents): the 48-bit Unix
// millisecond time of the run, version 7, the phase in the 12 bits of
// rand_a, the variant, the run's 14-bit salt and the event's 48-bit
// sequence number in rand_b:
//
//	tttttttt-tttt-7ppp-vsss-qqqqqqqqqqqq
//
// Ids grow with the sequence number (time-ordered, like real UUIDv7s), and
// the sequence number is the last 12 hex digits, which SQL reads back with
// SeqSQL. A phase never repeats another phase's or another run's ids.
type IDSpace struct {
	// UnixMilli is the run's time (48 bits are kept).
	UnixMilli int64
	// Phase tells the phases of a run apart (12 bits are kept).
	Phase uint16
	// Salt tells runs started in the same millisecond apart (14 bits are kept).
	Salt uint16
}

// MaxSeq is the largest sequence number an id can carry.
const MaxSeq = 1<<48 - 1

// ID returns the id of event seq (seq ≤ MaxSeq).
func (s IDSpace) ID(seq uint64) string {
	var b uuid.UUID
	ms := uint64(s.UnixMilli) & (1<<48 - 1) //nolint:gosec // the low 48 bits, as in a UUIDv7
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	b[6] = 0x70 | byte(s.Phase>>8&0x0f)
	b[7] = byte(s.Phase) //nolint:gosec // the low byte
	b[8] = 0x80 | byte(s.Salt>>8&0x3f)
	b[9] = byte(s.Salt) //nolint:gosec // the low byte
	var q [8]byte
	binary.BigEndian.PutUint64(q[:], seq&MaxSeq)
	copy(b[10:16], q[2:8])
	return b.String()
}

// ParseSeq returns the phase and sequence number of an id made by an
// IDSpace.
func ParseSeq(id string) (phase uint16, seq uint64, err error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return 0, 0, err
	}
	if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
		return 0, 0, errors.New("loadgen: not a UUIDv7: " + strconv.Quote(id))
	}
	phase = uint16(u[6]&0x0f)<<8 | uint16(u[7])
	var q [8]byte
	copy(q[2:8], u[10:16])
	return phase, binary.BigEndian.Uint64(q[:]), nil
}

// PhaseSQL and SeqSQL read an id's phase (three hex digits, text) and
// sequence number (bigint) back in SQL, for an event_id column.
const (
	PhaseSQL = `substr(event_id, 16, 3)`
	SeqSQL   = `('x' || lpad(right(event_id, 12), 16, '0'))::bit(64)::bigint`
)

// PhaseHex is the phase as PhaseSQL returns it.
func PhaseHex(phase uint16) string {
	const hex = "0123456789abcdef"
	p := phase & 0x0fff
	return string([]byte{hex[p>>8], hex[p>>4&0xf], hex[p&0xf]})
}
