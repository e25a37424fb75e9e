// Command bench-peer is the benchmark's Go peer: the smallest controller-runtime
// controller that does what bench/floor.py does for a KapacitorTask, through a watch,
// plus the periodic drift check every operator owes its users. bench/run.py builds it
// (bench/peer/build.sh) and runs it beside the operator; see bench/README.md.
//
// It reads the same environment variables as the operator (KAPACITOR_URL,
// OPERATOR_NAMESPACES, OPERATOR_DRIFT_INTERVAL, OPERATOR_HEALTH_PORT,
// OPERATOR_METRICS_PORT, KUBECONFIG) so the benchmark starts both the same way; flags
// override them.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// kapacitorConns is the operator's Kapacitor pool size (ClientPool: 50 connections),
// which the floor's httpx client copies too.
const kapacitorConns = 50

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return fallback
}

func main() {
	kapacitorURL := flag.String("kapacitor-url", envOr("KAPACITOR_URL", "http://127.0.0.1:9092"), "Kapacitor base URL")
	namespace := flag.String("namespace", envOr("OPERATOR_NAMESPACES", ""), "the one namespace to watch")
	driftSeconds := flag.Float64("drift-interval", 0, "seconds between drift checks of one task (default $OPERATOR_DRIFT_INTERVAL or 300)")
	// 50 matches the benchmark's --concurrency (the floor's writes in flight) and the
	// operator's Kapacitor pool (50 connections); kopf itself runs one worker per object.
	concurrency := flag.Int("concurrency", envInt("PEER_CONCURRENCY", 50), "reconciles in flight (MaxConcurrentReconciles)")
	healthPort := flag.Int("health-port", envInt("OPERATOR_HEALTH_PORT", 8080), "/healthz port")
	metricsPort := flag.Int("metrics-port", envInt("OPERATOR_METRICS_PORT", 9090), "/metrics port")
	timeout := flag.Duration("kapacitor-timeout", 10*time.Second, "Kapacitor request timeout (the operator's default)")
	flag.Parse()

	ctrl.SetLogger(zap.New())
	logger := ctrl.Log.WithName("bench-peer")
	drift, err := driftInterval(*driftSeconds)
	if err != nil || *namespace == "" || strings.Contains(*namespace, ",") {
		logger.Error(err, "bad configuration: need one namespace and a drift interval >= 1 s")
		os.Exit(2)
	}

	reconciles := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bench_peer_reconciles_total",
		Help: "KapacitorTask reconciles by result (ok, error, skipped).",
	}, []string{"result"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bench_peer_kapacitor_requests_total",
		Help: "Requests sent to Kapacitor, by method.",
	}, []string{"method"})
	ctrlmetrics.Registry.MustRegister(reconciles, requests)

	// GetConfigOrDie reads $KUBECONFIG and, as controller-runtime does by default, turns
	// client-side rate limiting off (QPS -1): neither kopf nor the floor throttle.
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}},
		// Read unstructured objects from the informer cache, as typed ones would be;
		// otherwise every Get in Reconcile would be a request to the apiserver.
		Client:                 client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Metrics:                metricsserver.Options{BindAddress: fmt.Sprintf("127.0.0.1:%d", *metricsPort)},
		HealthProbeBindAddress: fmt.Sprintf("127.0.0.1:%d", *healthPort),
	})
	if err != nil {
		logger.Error(err, "manager")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		logger.Error(err, "healthz")
		os.Exit(1)
	}
	r := &taskReconciler{
		client:     mgr.GetClient(),
		kapacitor:  newKapacitor(*kapacitorURL, kapacitorConns, *timeout, requests),
		drift:      drift,
		reconciles: reconciles,
	}
	// Status patches do not bump metadata.generation, so this predicate drops the peer's
	// own writes coming back through the watch; drift checks come from RequeueAfter.
	err = ctrl.NewControllerManagedBy(mgr).
		Named("kapacitortask").
		For(newTask(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: *concurrency}).
		Complete(r)
	if err != nil {
		logger.Error(err, "controller")
		os.Exit(1)
	}
	logger.Info("starting", "namespace", *namespace, "kapacitor", *kapacitorURL,
		"drift", drift.String(), "concurrency", *concurrency)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		logger.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// driftInterval takes the flag, else $OPERATOR_DRIFT_INTERVAL (seconds, as the operator
// reads it), else the operator's default of 300 s.
func driftInterval(flagSeconds float64) (time.Duration, error) {
	seconds := flagSeconds
	if seconds == 0 {
		seconds = 300
		if text := os.Getenv("OPERATOR_DRIFT_INTERVAL"); text != "" {
			parsed, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return 0, fmt.Errorf("OPERATOR_DRIFT_INTERVAL: %w", err)
			}
			seconds = parsed
		}
	}
	if seconds < 1 {
		return 0, fmt.Errorf("drift interval %g s is under 1 s", seconds)
	}
	return time.Duration(seconds * float64(time.Second)), nil
}
