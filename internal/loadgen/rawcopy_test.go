package loadgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRawRows(t *testing.T) {
	g := testGenerator(false)
	rows, err := RawRows(g, 3)
	require.NoError(t, err)
	require.Len(t, rows, 3*g.PerRequest)
	ids := map[any]bool{}
	for _, r := range rows {
		require.Len(t, r, len(RawEventColumns))
		ids[r[0]] = true
		assert.Contains(t, []any{ProductChatbot, ProductWorkbench}, r[2])
		assert.IsType(t, []byte{}, r[9])
	}
	assert.Len(t, ids, len(rows))
}
