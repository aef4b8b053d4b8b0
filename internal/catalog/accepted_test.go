package catalog

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Accepted reads each value from its stamp when there is one, else from the
// record's own field; a record stamped in full reads the same.
func TestAccepted(t *testing.T) {
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "ai_chatbot")
	lr := plog.NewLogRecord()
	lr.SetEventName("session.start")
	lr.SetTimestamp(1_764_520_200_000_000_000)
	lr.Attributes().PutStr(WireEventID, "e-1")
	own := Stamped{Name: "session.start", Product: "ai_chatbot", ID: "e-1", TimeUnixNano: 1_764_520_200_000_000_000}
	assert.Equal(t, own, Accepted(res, lr), "nothing stamped: the record's own fields")

	// Each stamp wins over the record's field.
	stamped := plog.NewLogRecord()
	lr.CopyTo(stamped)
	stamped.Attributes().PutStr(AttrEventName, "session.message")
	stamped.Attributes().PutStr(AttrProduct, "agent_workbench")
	stamped.Attributes().PutStr(AttrEventID, "derived")
	stamped.Attributes().PutInt(AttrEventTime, 42)
	assert.Equal(t, Stamped{Name: "session.message", Product: "agent_workbench", ID: "derived", TimeUnixNano: 42}, Accepted(res, stamped))

	// Stamped in full with the same values (an older processor): the same.
	full := plog.NewLogRecord()
	lr.CopyTo(full)
	full.Attributes().PutStr(AttrEventName, own.Name)
	full.Attributes().PutStr(AttrProduct, own.Product)
	full.Attributes().PutStr(AttrEventID, own.ID)
	full.Attributes().PutInt(AttrEventTime, own.TimeUnixNano)
	assert.Equal(t, own, Accepted(res, full))

	// Missing in both places: empty, for the caller to report.
	assert.Equal(t, Stamped{}, Accepted(pcommon.NewResource(), plog.NewLogRecord()))
	// A stamp of the wrong type is not read.
	wrong := plog.NewLogRecord()
	lr.CopyTo(wrong)
	wrong.Attributes().PutInt(AttrEventName, 7)
	wrong.Attributes().PutStr(AttrEventTime, "soon")
	assert.Equal(t, own, Accepted(res, wrong))
}
