package analyticsexporter

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A full sending queue is OTLP's throttling answer: RESOURCE_EXHAUSTED with
// a RetryInfo of one second (the OTLP receiver's HTTP 429 + Retry-After: 1;
// TestBackPressure in internal/e2e sees it on the built binary). Any other
// error passes as it is.
func TestBackPressure(t *testing.T) {
	t.Parallel()
	for _, full := range []error{exporterhelper.ErrQueueIsFull, fmt.Errorf("enqueue: %w", exporterhelper.ErrQueueIsFull)} {
		st, ok := status.FromError(backPressure(full))
		require.True(t, ok, "a gRPC status")
		assert.Equal(t, codes.ResourceExhausted, st.Code())
		assert.Contains(t, st.Message(), "sending queue is full (sending_queue::queue_size)")
		require.Len(t, st.Details(), 1)
		ri, ok := st.Details()[0].(*errdetails.RetryInfo)
		require.True(t, ok, "%T", st.Details()[0])
		assert.Equal(t, time.Second, ri.GetRetryDelay().AsDuration())
	}
	other := errors.New("postgres: connection refused")
	assert.Same(t, other, backPressure(other))
	assert.NoError(t, backPressure(nil))
}
