package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// taskGVK is the KapacitorTask kind, read as unstructured objects: the peer needs four
// spec fields and two status fields, not generated types.
var taskGVK = schema.GroupVersionKind{
	Group:   "kapacitor.operator.dev",
	Version: "v1alpha1",
	Kind:    "KapacitorTask",
}

func newTask() *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(taskGVK)
	return obj
}

// taskReconciler makes one KapacitorTask live, then checks it for drift every interval.
type taskReconciler struct {
	client     client.Client
	kapacitor  *kapacitor
	drift      time.Duration
	reconciles *prometheus.CounterVec
}

// Reconcile does the floor's two controller writes for an object that is not Ready for
// its generation (POST to Kapacitor, patch status), or a drift check (one GET, no write
// when Kapacitor matches) for one that is. Either way it comes back after the drift
// interval: a timer per object, as the operator's kopf timer does today.
func (r *taskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := newTask()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		// Deleted: the peer has no finalizer and leaves the Kapacitor task behind.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil
	}
	want, err := desired(obj)
	if err != nil {
		// Nothing a retry could fix, and the benchmark never applies such a spec.
		log.FromContext(ctx).Info("skipped", "reason", err.Error())
		r.reconciles.WithLabelValues("skipped").Inc()
		return ctrl.Result{}, nil
	}
	if isReady(obj) {
		err = r.checkDrift(ctx, want)
	} else {
		err = r.define(ctx, obj, want)
	}
	if err != nil {
		// The workqueue retries with its per-item exponential backoff (5 ms doubling).
		r.reconciles.WithLabelValues("error").Inc()
		return ctrl.Result{}, err
	}
	r.reconciles.WithLabelValues("ok").Inc()
	return ctrl.Result{RequeueAfter: r.drift}, nil
}

// define is the floor's writes 2 and 3: POST the task, then Ready=True in status.
func (r *taskReconciler) define(ctx context.Context, obj *unstructured.Unstructured, want taskDef) error {
	server, err := r.kapacitor.create(ctx, want)
	if err != nil {
		return err
	}
	status := readyStatus(obj.GetGeneration(), want.ID, r.kapacitor.base, server, time.Now())
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	return r.client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, data))
}

// checkDrift reads the task back; only when it is gone or differs does it write, and then
// the way `kapacitor define` does (disable, redefine, enable) so the new script runs.
func (r *taskReconciler) checkDrift(ctx context.Context, want taskDef) error {
	server, err := r.kapacitor.get(ctx, want.ID)
	if err != nil {
		return err
	}
	logger := log.FromContext(ctx)
	if server == nil {
		logger.Info("drift: task gone from Kapacitor, recreating", "task", want.ID)
		_, err = r.kapacitor.create(ctx, want)
		return err
	}
	if matches(server, want) {
		return nil
	}
	logger.Info("drift: task differs in Kapacitor, redefining", "task", want.ID)
	if server.Status == "enabled" {
		if err := r.kapacitor.patch(ctx, want.ID, map[string]any{"status": "disabled"}); err != nil {
			return err
		}
	}
	return r.kapacitor.patch(ctx, want.ID, map[string]any{
		"type": want.Type, "dbrps": want.DBRPs, "script": want.Script, "status": want.Status,
	})
}

// matches compares what the peer declares with what Kapacitor holds (raw script).
func matches(server *serverTask, want taskDef) bool {
	return server.Type == want.Type && server.Script == want.Script &&
		server.Status == want.Status && slices.Equal(server.DBRPs, want.DBRPs)
}

// desired turns the spec into Kapacitor's task body: inline TICKscript only.
func desired(obj *unstructured.Unstructured) (taskDef, error) {
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	kind, _, _ := unstructured.NestedString(spec, "type")
	script, _, _ := unstructured.NestedString(spec, "script")
	if kind != "stream" && kind != "batch" {
		return taskDef{}, fmt.Errorf("type %q: the peer handles TICKscript tasks only", kind)
	}
	if script == "" {
		return taskDef{}, fmt.Errorf("no inline script: the peer ignores scriptFrom and templates")
	}
	id, _, _ := unstructured.NestedString(spec, "taskID")
	if id == "" {
		id = obj.GetNamespace() + "." + obj.GetName() // the operator's default task ID
	}
	enabled, found, _ := unstructured.NestedBool(spec, "enabled")
	status := "enabled"
	if found && !enabled {
		status = "disabled"
	}
	raw, _, _ := unstructured.NestedSlice(spec, "dbrps")
	dbrps := make([]dbrp, 0, len(raw))
	for _, item := range raw {
		m, _ := item.(map[string]any)
		db, _ := m["db"].(string)
		rp, _ := m["rp"].(string)
		dbrps = append(dbrps, dbrp{DB: db, RP: rp})
	}
	return taskDef{ID: id, Type: kind, DBRPs: dbrps, Script: script, Status: status}, nil
}

// isReady is the benchmark's own predicate (and `kubectl wait`'s): Ready=True with
// status.observedGeneration equal to metadata.generation.
func isReady(obj *unstructured.Unstructured) bool {
	observed, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if !found || observed != obj.GetGeneration() {
		return false
	}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, item := range conditions {
		c, _ := item.(map[string]any)
		if c["type"] == "Ready" {
			return c["status"] == "True"
		}
	}
	return false
}

// readyStatus is bench/floor.py's ready_status, field for field, so the peer's status
// patch weighs what the floor's and the operator's weigh. A nil server (the task already
// existed) reads as enabled and executing, as the floor's defaults do.
func readyStatus(generation int64, taskID, url string, server *serverTask, now time.Time) map[string]any {
	stamp := now.UTC().Format("2006-01-02T15:04:05Z")
	state, executing := "enabled", true
	if server != nil {
		state, executing = server.Status, server.Executing
	}
	condition := func(kind, reason, message string) map[string]any {
		return map[string]any{
			"type":               kind,
			"status":             "True",
			"reason":             reason,
			"message":            message,
			"lastTransitionTime": stamp,
			"observedGeneration": generation,
		}
	}
	return map[string]any{
		"observedGeneration": generation,
		"taskID":             taskID,
		"kapacitorURL":       url,
		"status":             state,
		"executing":          executing,
		"lastSyncedAt":       stamp,
		"conditions": []any{
			condition("Ready", "Executing", "Task is defined and executing."),
			condition("Synced", "Synced", fmt.Sprintf("Kapacitor at %s matches the spec.", url)),
		},
	}
}
