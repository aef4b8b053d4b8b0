package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The transports a load generator speaks.
const (
	TransportHTTP = "http" // OTLP/HTTP, protobuf body, POST /v1/logs
	TransportGRPC = "grpc" // OTLP gRPC, LogsService/Export
)

// exportMethod is the OTLP logs gRPC method.
const exportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// answer is what one attempt got.
type answer struct {
	ok         bool
	status     string        // "HTTP 200", "gRPC UNAVAILABLE", "transport error", …
	retryable  bool          // 429, 503, UNAVAILABLE, RESOURCE_EXHAUSTED, a broken connection or a time-out
	reason     string        // what the retries and refusals are counted by: http_503, grpc_UNAVAILABLE, timeout, transport_error, …
	message    string        // the server's message (first 200 bytes), or the error
	retryAfter time.Duration // the server's Retry-After or RetryInfo; -1: none given
	rejected   int64         // partial success: records the server says it rejected
}

// transport sends one pre-encoded request.
type transport interface {
	send(ctx context.Context, body []byte) answer
	close() error
}

func cut(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errorAnswer classifies a failure to get any answer within the attempt's
// context ctx. A request that timed out or lost its connection may have
// been taken: resending it is safe, since the collector deduplicates by
// event.id. (The sender tells a run's end from a time-out itself.)
func errorAnswer(ctx context.Context, err error) answer {
	a := answer{status: "transport error", reason: "transport_error", message: cut(err.Error(), 200), retryAfter: -1, retryable: true}
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		a.reason, a.status = "timeout", "timeout"
	}
	return a
}

// ---- OTLP/HTTP ----

type httpTransport struct {
	client *http.Client
	url    string
}

func newHTTPTransport(endpoint string, conns int) *httpTransport {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httpTransport{client: &http.Client{Transport: tr}, url: "http://" + endpoint + "/v1/logs"}
}

func (t *httpTransport) send(ctx context.Context, body []byte) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return answer{status: "bad request", reason: "client_error", message: err.Error(), retryAfter: -1}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := t.client.Do(req)
	if err != nil {
		return errorAnswer(ctx, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return errorAnswer(ctx, err)
	}
	a := answer{status: "HTTP " + strconv.Itoa(resp.StatusCode), reason: "http_" + strconv.Itoa(resp.StatusCode), retryAfter: -1}
	if resp.StatusCode/100 == 2 {
		a.ok = true
		er := plogotlp.NewExportResponse()
		if resp.Header.Get("Content-Type") == "application/x-protobuf" && er.UnmarshalProto(data) == nil {
			a.rejected = er.PartialSuccess().RejectedLogRecords()
			a.message = er.PartialSuccess().ErrorMessage()
		}
		return a
	}
	a.message = httpMessage(resp.Header.Get("Content-Type"), data)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		a.retryable = true
		a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return a
}

func (t *httpTransport) close() error {
	t.client.CloseIdleConnections()
	return nil
}

// httpMessage is the message of an OTLP/HTTP error answer: a google.rpc.Status
// in protobuf for a protobuf request, or text.
func httpMessage(contentType string, data []byte) string {
	if contentType == "application/x-protobuf" {
		var st spb.Status
		if proto.Unmarshal(data, &st) == nil && st.GetMessage() != "" {
			return cut(st.GetMessage(), 200)
		}
	}
	return cut(string(data), 200)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. -1: absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// ---- OTLP gRPC ----

// rawMessage carries pre-encoded protobuf through gRPC untouched.
type rawMessage struct{ b []byte }

// rawCodec sends rawMessage bytes as they are. It is named "proto" so that
// the content type stays application/grpc+proto, which the receiver decodes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("loadgen: rawCodec cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("loadgen: rawCodec cannot unmarshal into %T", v)
	}
	m.b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

type grpcTransport struct {
	conn *grpc.ClientConn
}

func newGRPCTransport(endpoint string) (*grpcTransport, error) {
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return nil, err
	}
	return &grpcTransport{conn: conn}, nil
}

func (t *grpcTransport) send(ctx context.Context, body []byte) answer {
	var out rawMessage
	err := t.conn.Invoke(ctx, exportMethod, &rawMessage{b: body}, &out)
	if err == nil {
		a := answer{ok: true, status: "gRPC OK", reason: "grpc_OK", retryAfter: -1}
		er := plogotlp.NewExportResponse()
		if er.UnmarshalProto(out.b) == nil {
			a.rejected = er.PartialSuccess().RejectedLogRecords()
			a.message = er.PartialSuccess().ErrorMessage()
		}
		return a
	}
	st, isStatus := status.FromError(err)
	if !isStatus {
		return errorAnswer(ctx, err)
	}
	a := answer{
		status: "gRPC " + st.Code().String(), reason: "grpc_" + st.Code().String(),
		message: cut(st.Message(), 200), retryAfter: -1,
	}
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted:
		a.retryable = true
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				a.retryAfter = max(ri.GetRetryDelay().AsDuration(), 0)
			}
		}
	case codes.DeadlineExceeded, codes.Canceled:
		return errorAnswer(ctx, err)
	}
	return a
}

func (t *grpcTransport) close() error { return t.conn.Close() }

// newTransport opens the transport kind to endpoint (host:port).
func newTransport(kind, endpoint string, conns int) (transport, error) {
	switch kind {
	case TransportHTTP, "":
		return newHTTPTransport(endpoint, conns), nil
	case TransportGRPC:
		return newGRPCTransport(endpoint)
	}
	return nil, fmt.Errorf("loadgen: unknown transport %q (http or grpc)", kind)
}
