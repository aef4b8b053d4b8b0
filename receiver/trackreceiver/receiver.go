package trackreceiver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
)

// headerServiceName names the product of a request's calls when neither
// the write key nor a call's context.service.name does.
const headerServiceName = "X-Service-Name"

// dataFormat is the format reported in the standard receiver telemetry.
const dataFormat = "segment"

type endpointKind int

const (
	kindTrack endpointKind = iota + 1
	kindBatch
	kindIgnored
)

// route is one path the receiver serves.
type route struct {
	path string
	kind endpointKind
	typ  string // kindIgnored: the Segment call type
}

// routes are Segment's HTTP tracking API paths, with the one-letter forms
// analytics.js uses (apiHost ".../v1" → /v1/t, /v1/b, …).
var routes = []route{
	{path: "/v1/track", kind: kindTrack},
	{path: "/v1/t", kind: kindTrack},
	{path: "/v1/batch", kind: kindBatch},
	{path: "/v1/b", kind: kindBatch},
	{path: "/v1/import", kind: kindBatch},
	{path: "/v1/identify", kind: kindIgnored, typ: "identify"},
	{path: "/v1/i", kind: kindIgnored, typ: "identify"},
	{path: "/v1/page", kind: kindIgnored, typ: "page"},
	{path: "/v1/p", kind: kindIgnored, typ: "page"},
	{path: "/v1/screen", kind: kindIgnored, typ: "screen"},
	{path: "/v1/s", kind: kindIgnored, typ: "screen"},
	{path: "/v1/group", kind: kindIgnored, typ: "group"},
	{path: "/v1/g", kind: kindIgnored, typ: "group"},
	{path: "/v1/alias", kind: kindIgnored, typ: "alias"},
	{path: "/v1/a", kind: kindIgnored, typ: "alias"},
}

// endpointOther labels, in telemetry, requests to a path not in routes.
const endpointOther = "other"

type writeKey struct {
	key     []byte
	product string
}

// trackReceiver serves Segment-shaped track calls over HTTP and hands them
// on as log records.
type trackReceiver struct {
	cfg    *Config
	set    receiver.Settings
	next   consumer.Logs
	obsrep *receiverhelper.ObsReport
	tel    *telemetry
	keys   []writeKey
	lim    limits
	// retryAfter is the Retry-After header value of a 503.
	retryAfter string
	// now is the clock (tests replace it).
	now func() time.Time

	server *http.Server
	addr   net.Addr
	wg     sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*trackReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &trackReceiver{
		cfg:        cfg,
		set:        set,
		next:       next,
		obsrep:     obsrep,
		tel:        tel,
		lim:        limits{maxBatchEvents: cfg.MaxBatchEvents, maxEventBytes: cfg.MaxEventBytes},
		retryAfter: strconv.FormatInt(int64(math.Ceil(cfg.RetryAfter.Seconds())), 10),
		now:        time.Now,
	}
	for key, product := range cfg.WriteKeys {
		r.keys = append(r.keys, writeKey{key: []byte(key), product: product})
	}
	return r, nil
}

// Start opens the listener and serves.
func (r *trackReceiver) Start(ctx context.Context, host component.Host) error {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.path, func(w http.ResponseWriter, req *http.Request) {
			status, reason := r.handle(w, req, rt)
			r.tel.request(req.Context(), rt.path, status, reason)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, &apiError{
			status: http.StatusNotFound, reason: reasonNotFound,
			message: "no such endpoint " + quote(req.URL.Path) + "; POST track calls to /v1/track or /v1/batch",
		})
		r.tel.request(req.Context(), endpointOther, http.StatusNotFound, reasonNotFound)
	})

	var err error
	r.server, err = r.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux,
		confighttp.WithErrorHandler(r.serverError))
	if err != nil {
		return err
	}
	ln, err := r.cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return err
	}
	r.addr = ln.Addr()
	r.set.Logger.Info("Starting track receiver (Segment HTTP API)", zap.String("endpoint", ln.Addr().String()))
	r.wg.Go(func() {
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return nil
}

// Shutdown stops accepting requests and waits, within ctx, for those in
// flight (each waits for its ConsumeLogs). Nil-safe and idempotent.
func (r *trackReceiver) Shutdown(ctx context.Context) error {
	if r == nil || r.server == nil {
		return nil
	}
	err := r.server.Shutdown(ctx)
	r.wg.Wait()
	return err
}

// serverError answers the errors confighttp raises before the handler: an
// auth extension refusing (401) and a body that cannot be decompressed (400).
func (r *trackReceiver) serverError(w http.ResponseWriter, req *http.Request, msg string, status int) {
	reason := reasonUnreadableBody
	if status == http.StatusUnauthorized {
		reason = reasonUnauthorized
	}
	writeError(w, &apiError{status: status, reason: reason, message: msg})
	r.tel.request(req.Context(), endpointLabel(req.URL.Path), status, reason)
}

func endpointLabel(path string) string {
	for _, rt := range routes {
		if rt.path == path {
			return rt.path
		}
	}
	return endpointOther
}

// handle serves one request and returns the status and (for an error)
// reason it answered with.
func (r *trackReceiver) handle(w http.ResponseWriter, req *http.Request, rt route) (int, string) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeError(w, &apiError{
			status: http.StatusMethodNotAllowed, reason: reasonMethodNotAllowed,
			message: req.Method + " is not allowed; POST the call as JSON",
		})
	}
	receivedAt := r.now()
	ctx := req.Context()

	// Write key from the Authorization header (Segment: HTTP Basic, the key
	// as user name), checked before the body is read.
	auth := len(r.keys) > 0
	key, fromHeader := basicUser(req.Header.Get("Authorization"))
	keyProduct := ""
	if auth && fromHeader {
		var ok bool
		if keyProduct, ok = r.lookup(key); !ok {
			return writeError(w, errUnknownKey)
		}
	}

	body, aerr := r.readBody(req.Body, rt)
	if aerr != nil {
		return writeError(w, aerr)
	}

	var p *payload
	var derr *decodeError
	switch rt.kind {
	case kindTrack:
		p, derr = decodeTrack(body, receivedAt, r.lim)
	case kindBatch:
		p, derr = decodeBatch(body, receivedAt, r.lim)
	default:
		p, derr = decodeIgnored(body, rt.typ, r.lim)
	}

	// Else the write key from the body's writeKey (analytics.js sends it
	// there to avoid a CORS preflight).
	if auth && !fromHeader {
		ok := false
		if p != nil && p.writeKey != "" {
			keyProduct, ok = r.lookup(p.writeKey)
		}
		if !ok {
			return writeError(w, errUnknownKey)
		}
	}
	if derr != nil {
		if derr.call {
			r.tel.rejectedEvents(ctx, derr.reason, 1)
		}
		return writeError(w, refusal(derr))
	}
	r.tel.payload(ctx, p)

	resp := response{Success: true, Rejected: p.rejected(), Ignored: p.ignoredTotal()}
	if len(p.calls) == 0 && len(p.refused) == 0 {
		return writeJSON(w, http.StatusOK, &resp), ""
	}

	// The refused calls of a batch go with the good ones (refused.go): the
	// answer acknowledges them too.
	headerProduct := req.Header.Get(headerServiceName)
	ld := toLogs(p.calls, p.refused, func(ctxProduct string) string {
		switch {
		case keyProduct != "":
			return keyProduct
		case ctxProduct != "":
			return ctxProduct
		}
		return headerProduct
	}, receivedAt)
	n := ld.LogRecordCount()

	// Answer only once the pipeline has taken the records: a client that
	// retries after an error cannot lose events, and one that got 200 need
	// not resend (a resend is deduplicated by event.id downstream anyway).
	opCtx := r.obsrep.StartLogsOp(ctx)
	err := r.next.ConsumeLogs(opCtx, ld)
	r.obsrep.EndLogsOp(opCtx, dataFormat, n, err)
	if err != nil {
		if consumererror.IsPermanent(err) {
			return writeError(w, &apiError{
				status: http.StatusBadRequest, reason: reasonPipelineRejected,
				message: "the pipeline refused the events permanently (do not resend them unchanged): " + err.Error(),
			})
		}
		w.Header().Set("Retry-After", r.retryAfter)
		return writeError(w, &apiError{
			status: http.StatusServiceUnavailable, reason: reasonBackPressure,
			message: "the pipeline cannot take the events now; retry after " + r.retryAfter + "s: " + err.Error(),
		})
	}
	r.tel.eventsAccepted.Add(ctx, int64(len(p.calls)))
	return writeJSON(w, http.StatusOK, &resp), ""
}

// lookup finds key among the configured write keys, in constant time with
// respect to the keys' contents.
func (r *trackReceiver) lookup(key string) (product string, ok bool) {
	kb := []byte(key)
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(kb, k.key) == 1 {
			product, ok = k.product, true
		}
	}
	return product, ok
}

// basicUser returns the user name of an HTTP Basic Authorization header
// (the write key; the password is ignored, Segment's clients send none).
func basicUser(header string) (string, bool) {
	const prefix = "Basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", false
	}
	user, _, _ := strings.Cut(string(raw), ":")
	return user, true
}
