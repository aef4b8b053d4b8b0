package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// firstID is the event.id of a request's first record.
func firstID(t *testing.T, req plogotlp.ExportRequest) string {
	t.Helper()
	ld := req.Logs()
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
		for j := 0; j < lrs.Len(); j++ {
			v, _ := lrs.At(j).Attributes().Get(catalog.WireEventID)
			if _, seq, err := ParseSeq(v.Str()); err == nil && seq%200 == 0 {
				return v.Str()
			}
		}
	}
	t.Fatal("no first record")
	return ""
}

// answers plays a server: for each request (by its first id), the
// answers of its attempts in turn; the last repeats.
type answers struct {
	mu       sync.Mutex
	attempts map[string]int
	times    map[string][]time.Time
	records  int
}

func newAnswers() *answers {
	return &answers{attempts: map[string]int{}, times: map[string][]time.Time{}}
}

func (a *answers) next(id string, records int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts[id]++
	a.times[id] = append(a.times[id], time.Now())
	a.records += records
	return a.attempts[id]
}

func TestHTTPRetriesAndRefusals(t *testing.T) {
	g := testGenerator(false)
	reqs, err := g.EncodeAll(6)
	require.NoError(t, err)
	// Request 0..1: 503 with Retry-After 1 (capped to 30ms), then 200.
	// Request 2..3: 429 without Retry-After twice, then 200 with partial success.
	// Request 4: 400 (refused for good). Request 5: 200 at once.
	plan := map[string]func(int) (int, string){}
	for i, r := range reqs {
		switch i {
		case 0, 1:
			plan[r.SampleID] = func(n int) (int, string) {
				if n == 1 {
					return http.StatusServiceUnavailable, "1"
				}
				return http.StatusOK, ""
			}
		case 2, 3:
			plan[r.SampleID] = func(n int) (int, string) {
				if n <= 2 {
					return http.StatusTooManyRequests, ""
				}
				return http.StatusOK, ""
			}
		case 4:
			plan[r.SampleID] = func(int) (int, string) { return http.StatusBadRequest, "" }
		default:
			plan[r.SampleID] = func(int) (int, string) { return http.StatusOK, "" }
		}
	}
	ans := newAnswers()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/v1/logs", r.URL.Path)
		assert.Equal(t, "application/x-protobuf", r.Header.Get("Content-Type"))
		body, err := io.ReadAll(r.Body)
		if !assert.NoError(t, err) {
			return
		}
		req := plogotlp.NewExportRequest()
		if !assert.NoError(t, req.UnmarshalProto(body)) {
			return
		}
		id := firstID(t, req)
		code, retryAfter := plan[id](ans.next(id, req.Logs().LogRecordCount()))
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		if code != http.StatusOK {
			w.WriteHeader(code)
			_, _ = w.Write([]byte("sending queue is full"))
			return
		}
		resp := plogotlp.NewExportResponse()
		if id == reqs[2].SampleID {
			resp.PartialSuccess().SetRejectedLogRecords(3)
		}
		b, _ := resp.MarshalProto()
		_, _ = w.Write(b)
	}))
	defer srv.Close()

	var sends sync.Map
	res, err := Run(context.Background(), Options{
		Transport: TransportHTTP, Endpoint: strings.TrimPrefix(srv.URL, "http://"), Senders: 3,
		RetryAfterCap: 30 * time.Millisecond, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		OnSend: func(r *Request, at time.Time) {
			_, dup := sends.LoadOrStore(r.Index, at)
			assert.False(t, dup, "OnSend once per request")
		},
	}, Encoded(reqs))
	require.NoError(t, err)
	require.Len(t, res.Records, 6)
	assert.Equal(t, map[string]int{"http_503": 2, "http_429": 4}, res.Retries)
	assert.Equal(t, map[string]int{"http_400": 1}, res.Refused)
	assert.Equal(t, "sending queue is full", res.Examples["http_503"])
	assert.Equal(t, int64(5*g.PerRequest), res.AckedEvents())
	assert.Equal(t, 5, res.AckedRequests())
	for i, rec := range res.Records {
		assert.Equal(t, i, rec.Index)
		assert.Equal(t, reqs[i].SampleID, rec.SampleID)
		assert.False(t, rec.Sent.IsZero())
		assert.False(t, rec.Answered.Before(rec.Sent))
		_, sent := sends.Load(i)
		assert.True(t, sent)
		switch i {
		case 0, 1:
			assert.Equal(t, 2, rec.Attempts)
			assert.True(t, rec.OK())
			ts := ans.times[rec.SampleID]
			gap := ts[1].Sub(ts[0])
			assert.GreaterOrEqual(t, gap, 30*time.Millisecond, "Retry-After honoured, capped")
			assert.Less(t, gap, 900*time.Millisecond, "Retry-After 1s capped to 30ms")
		case 2, 3:
			assert.Equal(t, 3, rec.Attempts)
			assert.Equal(t, "HTTP 200", rec.Status)
		case 4:
			assert.Equal(t, 1, rec.Attempts, "a 400 is not retried")
			assert.False(t, rec.OK())
			assert.Equal(t, "http_400", rec.Reason)
			assert.Equal(t, "HTTP 400", rec.Status)
		}
	}
	assert.Equal(t, int64(3), res.Records[2].Rejected, "partial success read")
	assert.Equal(t, (2*2+2*3+1+1)*g.PerRequest, ans.records, "every attempt carried the whole request")

	ranges := res.Acknowledged()
	assert.Len(t, ranges, 5)
	assert.True(t, res.IsAcknowledged(0))
	assert.True(t, res.IsAcknowledged(uint64(4*g.PerRequest-1)))                         //nolint:gosec // small
	assert.False(t, res.IsAcknowledged(uint64(4*g.PerRequest)), "request 4 was refused") //nolint:gosec // small
	assert.True(t, res.IsAcknowledged(uint64(5*g.PerRequest)))                           //nolint:gosec // small
	assert.False(t, res.IsAcknowledged(uint64(6*g.PerRequest)), "never sent")            //nolint:gosec // small
}

// grpcServer answers like answers does, over gRPC.
type grpcServer struct {
	plogotlp.UnimplementedGRPCServer
	t    *testing.T
	ans  *answers
	plan func(id string, attempt int) error
}

func (s *grpcServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	id := firstID(s.t, req)
	if err := s.plan(id, s.ans.next(id, req.Logs().LogRecordCount())); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	return plogotlp.NewExportResponse(), nil
}

func TestGRPCRetriesAndRefusals(t *testing.T) {
	g := testGenerator(true)
	reqs, err := g.EncodeAll(4)
	require.NoError(t, err)
	retryIn := func(d time.Duration) error {
		st, err := status.New(codes.Unavailable, "memory limit exceeded").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		require.NoError(t, err)
		return st.Err()
	}
	srv := &grpcServer{t: t, ans: newAnswers(), plan: func(id string, n int) error {
		switch id {
		case reqs[0].SampleID:
			if n == 1 {
				return retryIn(40 * time.Millisecond)
			}
		case reqs[1].SampleID:
			if n == 1 {
				return status.Error(codes.ResourceExhausted, "queue full")
			}
		case reqs[2].SampleID:
			return status.Error(codes.InvalidArgument, "bad")
		}
		return nil
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	plogotlp.RegisterGRPCServer(gs, srv)
	go func() { _ = gs.Serve(l) }()
	defer gs.Stop()

	res, err := Run(context.Background(), Options{
		Transport: TransportGRPC, Endpoint: l.Addr().String(), Senders: 2,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}, Encoded(reqs))
	require.NoError(t, err)
	require.Len(t, res.Records, 4)
	assert.Equal(t, map[string]int{"grpc_Unavailable": 1, "grpc_ResourceExhausted": 1}, res.Retries)
	assert.Equal(t, map[string]int{"grpc_InvalidArgument": 1}, res.Refused)
	assert.Equal(t, "memory limit exceeded", res.Examples["grpc_Unavailable"])
	assert.Equal(t, int64(3*g.PerRequest), res.AckedEvents())
	assert.Equal(t, "gRPC OK", res.Records[0].Status)
	assert.Equal(t, 2, res.Records[0].Attempts)
	ts := srv.ans.times[reqs[0].SampleID]
	assert.GreaterOrEqual(t, ts[1].Sub(ts[0]), 40*time.Millisecond, "RetryInfo honoured")
	assert.Equal(t, 1, res.Records[2].Attempts)
	assert.Equal(t, "gRPC InvalidArgument", res.Records[2].Status)
	assert.Equal(t, reqs[3].ProbeAgent, res.Records[3].ProbeAgent)
	assert.Equal(t, (2+2+1+1)*g.PerRequest, srv.ans.records, "the pre-encoded bytes arrive whole")
}

func TestPacing(t *testing.T) {
	g := testGenerator(false) // 200 events per request
	reqs, err := g.EncodeAll(10)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	// 10,000 events/s: one request every 20 ms.
	res, err := Run(context.Background(), Options{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Senders: 4, Rate: 10_000}, Encoded(reqs))
	require.NoError(t, err)
	require.Len(t, res.Records, 10)
	for i, rec := range res.Records {
		want := res.Start.Add(time.Duration(i) * 20 * time.Millisecond)
		assert.Equal(t, want, rec.Scheduled, "request %d", i)
		assert.False(t, rec.Sent.Before(rec.Scheduled), "request %d sent before its time", i)
		assert.True(t, rec.OK())
	}
	assert.GreaterOrEqual(t, res.Records[9].Sent.Sub(res.Start), 180*time.Millisecond)

	// A duration bounds a paced run: at 10 requests/s for 250 ms, requests 0, 1, 2.
	res, err = Run(context.Background(), Options{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Senders: 2, Rate: 2000, Duration: 250 * time.Millisecond}, Encoded(reqs))
	require.NoError(t, err)
	assert.Len(t, res.Records, 3)

	// And an unpaced run of a source without end.
	res, err = Run(context.Background(), Options{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Senders: 2, Duration: 150 * time.Millisecond}, Lazy{Gen: g})
	require.NoError(t, err)
	assert.NotEmpty(t, res.Records)
	for i, rec := range res.Records {
		assert.Equal(t, i, rec.Index, "no request skipped")
		assert.True(t, rec.OK())
	}
	assert.Less(t, res.First.Sub(res.Start), 150*time.Millisecond)
}

// TestTimeoutRetried: an attempt that times out is retried (the request may
// have been taken; the collector deduplicates by id).
func TestTimeoutRetried(t *testing.T) {
	g := testGenerator(false)
	reqs, err := g.EncodeAll(1)
	require.NoError(t, err)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Options{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Timeout: 100 * time.Millisecond, BackoffMin: time.Millisecond}, Encoded(reqs))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"timeout": 1}, res.Retries)
	assert.True(t, res.Records[0].OK())
	assert.Equal(t, 2, res.Records[0].Attempts)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", -1},
		{"0", 0},
		{"3", 3 * time.Second},
		{"junk", -1},
		{"-2", -1},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0},
	} {
		assert.Equal(t, tc.want, parseRetryAfter(tc.in, now), tc.in)
	}
}
