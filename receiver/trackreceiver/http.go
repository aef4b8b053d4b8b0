package trackreceiver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// The HTTP answers: every refusal's status and the JSON body of every
// response. The decoder's refusals come as a decodeError, whose kind
// (reason) gives the status here.

// The reasons of requests refused by the HTTP layer itself, as they appear
// in responses ("reason") and in the receiver's telemetry (the decoder's
// are in decode.go).
const (
	reasonBodyTooLarge     = "body_too_large"     // a body over max_request_body_size
	reasonUnauthorized     = "unauthorized"       // missing or unknown write key, or an auth extension refused
	reasonUnreadableBody   = "unreadable_body"    // the body could not be read or decompressed
	reasonMethodNotAllowed = "method_not_allowed" // not a POST
	reasonNotFound         = "not_found"          // not one of the receiver's paths
	reasonBackPressure     = "back_pressure"      // the pipeline refused with a retryable error (503)
	reasonPipelineRejected = "pipeline_rejected"  // the pipeline refused with a permanent error (400)
)

// apiError is a refused request: the HTTP status and the JSON reason and
// message of the response.
type apiError struct {
	status  int
	reason  string
	message string
}

func (e *apiError) Error() string { return e.reason + ": " + e.message }

// refusal answers a body the decoder refused: 413 for a call or a batch
// over its limit (max_event_bytes, max_batch_events), else 400.
func refusal(e *decodeError) *apiError {
	status := http.StatusBadRequest
	switch e.reason {
	case reasonEventTooLarge, reasonTooManyEvents:
		status = http.StatusRequestEntityTooLarge
	}
	return &apiError{status: status, reason: e.reason, message: e.message}
}

var errUnknownKey = &apiError{
	status: http.StatusUnauthorized, reason: reasonUnauthorized,
	message: "missing or unknown write key: send it as the user name of HTTP Basic auth (empty password), or as writeKey in the body",
}

// readBody reads the body of a request to rt: bounded by
// max_request_body_size (confighttp), and a single call by max_event_bytes.
// It reads at most limit+1 bytes, so that the decoder can tell "too large"
// apart from "exactly the limit".
func (r *trackReceiver) readBody(body io.Reader, rt route) ([]byte, *apiError) {
	maxBody := r.cfg.ServerConfig.MaxRequestBodySize
	limit := maxBody
	if rt.kind != kindBatch && int64(r.lim.maxEventBytes) < limit {
		limit = int64(r.lim.maxEventBytes)
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, bodyTooLarge(maxBody)
		}
		return nil, &apiError{
			status: http.StatusBadRequest, reason: reasonUnreadableBody,
			message: "cannot read the request body: " + err.Error(),
		}
	}
	if rt.kind == kindBatch && int64(len(b)) > maxBody {
		return nil, bodyTooLarge(maxBody)
	}
	return b, nil
}

func bodyTooLarge(maxBody int64) *apiError {
	return &apiError{
		status: http.StatusRequestEntityTooLarge, reason: reasonBodyTooLarge,
		message: "the request body is larger than max_request_body_size (" + strconv.FormatInt(maxBody, 10) + " bytes)",
	}
}

// response is the JSON body of every answer.
type response struct {
	// Success is true on 200.
	Success bool `json:"success"`
	// Reason and Message explain an error.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Rejected lists the calls of a batch that were refused alone.
	Rejected []rejectedCall `json:"rejected,omitempty"`
	// Ignored counts the non-track calls accepted and dropped.
	Ignored int `json:"ignored,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) (int, string) {
	return writeJSON(w, e.status, &response{Reason: e.reason, Message: e.message}), e.reason
}

func writeJSON(w http.ResponseWriter, status int, resp *response) int {
	body, err := json.Marshal(resp)
	if err != nil { // cannot happen: plain strings and ints
		body = []byte(`{"success":false}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return status
}
