package main

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func task(spec map[string]any, status map[string]any, generation int64) *unstructured.Unstructured {
	obj := newTask()
	obj.SetNamespace("ns")
	obj.SetName("t1")
	obj.SetGeneration(generation)
	obj.Object["spec"] = spec
	if status != nil {
		obj.Object["status"] = status
	}
	return obj
}

var benchSpec = map[string]any{
	"type":   "stream",
	"script": "stream\n    |from()\n",
	"dbrps":  []any{map[string]any{"db": "telegraf", "rp": "autogen"}},
}

func TestDesiredIsTheFloorsBody(t *testing.T) {
	got, err := desired(task(benchSpec, nil, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := taskDef{
		ID: "ns.t1", Type: "stream", Script: "stream\n    |from()\n", Status: "enabled",
		DBRPs: []dbrp{{DB: "telegraf", RP: "autogen"}},
	}
	if got.ID != want.ID || got.Type != want.Type || got.Script != want.Script ||
		got.Status != want.Status || len(got.DBRPs) != 1 || got.DBRPs[0] != want.DBRPs[0] {
		t.Fatalf("desired = %+v, want %+v", got, want)
	}
}

func TestDesiredRefusesWhatThePeerDoesNotDo(t *testing.T) {
	for _, spec := range []map[string]any{
		{"type": "flux", "flux": "x"},
		{"type": "stream", "templateID": "tpl"},
	} {
		if _, err := desired(task(spec, nil, 1)); err == nil {
			t.Errorf("desired(%v) accepted", spec)
		}
	}
}

func TestReadyOnlyForTheCurrentGeneration(t *testing.T) {
	status := readyStatus(1, "ns.t1", "http://k", nil, time.Unix(0, 0))
	if !isReady(task(benchSpec, status, 1)) {
		t.Error("its own Ready status for generation 1 is not Ready")
	}
	if isReady(task(benchSpec, status, 2)) {
		t.Error("a status for generation 1 counts as Ready for generation 2")
	}
	if isReady(task(benchSpec, nil, 1)) {
		t.Error("no status counts as Ready")
	}
}

func TestDriftComparesTheRawDefinition(t *testing.T) {
	want, _ := desired(task(benchSpec, nil, 1))
	same := &serverTask{ID: want.ID, Type: "stream", Script: want.Script, Status: "enabled",
		DBRPs: []dbrp{{DB: "telegraf", RP: "autogen"}}, Executing: true}
	if !matches(same, want) {
		t.Error("an identical task is drift")
	}
	for _, change := range []func(s *serverTask){
		func(s *serverTask) { s.Script += " " },
		func(s *serverTask) { s.Status = "disabled" },
		func(s *serverTask) { s.DBRPs = nil },
		func(s *serverTask) { s.Type = "batch" },
	} {
		changed := *same
		change(&changed)
		if matches(&changed, want) {
			t.Errorf("drift not seen: %+v", changed)
		}
	}
}
