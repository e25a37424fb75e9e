package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// dbrp is one database/retention-policy pair of a TICKscript task.
type dbrp struct {
	DB string `json:"db"`
	RP string `json:"rp"`
}

// taskDef is the definition the peer sends to Kapacitor: the same body the floor posts.
type taskDef struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	DBRPs  []dbrp `json:"dbrps"`
	Script string `json:"script"`
	Status string `json:"status"`
}

// serverTask is the part of Kapacitor's task record the peer reads back.
type serverTask struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	DBRPs     []dbrp `json:"dbrps"`
	Script    string `json:"script"`
	Status    string `json:"status"`
	Executing bool   `json:"executing"`
}

// kapacitorError is a non-2xx answer; the body is cut so a log line stays short.
type kapacitorError struct {
	Method string
	Path   string
	Code   int
	Body   string
}

func (e *kapacitorError) Error() string {
	return fmt.Sprintf("kapacitor %s %s: HTTP %d: %s", e.Method, e.Path, e.Code, e.Body)
}

// kapacitor is the few calls the peer makes, on one pooled HTTP client.
type kapacitor struct {
	base     string
	http     *http.Client
	requests *prometheus.CounterVec
}

// newKapacitor pools at most `conns` connections, as the operator's ClientPool (50) and
// the floor's httpx client do, so no side wins by opening more sockets than the others.
func newKapacitor(base string, conns int, timeout time.Duration, requests *prometheus.CounterVec) *kapacitor {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxConnsPerHost = conns
	transport.MaxIdleConnsPerHost = conns
	transport.MaxIdleConns = conns
	return &kapacitor{
		base:     strings.TrimRight(base, "/"),
		http:     &http.Client{Transport: transport, Timeout: timeout},
		requests: requests,
	}
}

// do sends one request and decodes a 2xx JSON answer into out (when out is not nil).
func (k *kapacitor) do(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	k.requests.WithLabelValues(method).Inc()
	resp, err := k.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		text := string(data)
		if len(text) > 256 {
			text = text[:256]
		}
		return &kapacitorError{Method: method, Path: path, Code: resp.StatusCode, Body: text}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// create POSTs the task. A 400 "already exists" is success with a nil record: an earlier
// attempt (or an earlier process) defined it, and the floor's contract counts that as done.
func (k *kapacitor) create(ctx context.Context, def taskDef) (*serverTask, error) {
	var got serverTask
	err := k.do(ctx, http.MethodPost, "/kapacitor/v1/tasks", def, &got)
	if err != nil {
		var kerr *kapacitorError
		if errors.As(err, &kerr) && kerr.Code == http.StatusBadRequest &&
			strings.Contains(kerr.Body, "already exists") {
			return nil, nil
		}
		return nil, err
	}
	return &got, nil
}

// get reads the task with its script as stored (Kapacitor reformats it otherwise, which
// would look like drift forever); nil when Kapacitor has no such task.
func (k *kapacitor) get(ctx context.Context, id string) (*serverTask, error) {
	var got serverTask
	path := "/kapacitor/v1/tasks/" + url.PathEscape(id) + "?script-format=raw"
	err := k.do(ctx, http.MethodGet, path, nil, &got)
	if err != nil {
		var kerr *kapacitorError
		if errors.As(err, &kerr) && kerr.Code == http.StatusNotFound {
			return nil, nil
		}
		return nil, err
	}
	return &got, nil
}

// patch changes the task in place (Kapacitor replaces dbrps whole, keeps empty fields).
func (k *kapacitor) patch(ctx context.Context, id string, changes map[string]any) error {
	return k.do(ctx, http.MethodPatch, "/kapacitor/v1/tasks/"+url.PathEscape(id), changes, nil)
}
