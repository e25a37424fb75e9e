// Command tick-nodes prints, as JSON, what Kapacitor's TICKscript evaluator can call on
// each pipeline object: chaining methods, property methods and reflection-settable
// fields, with their Go signatures, and the edge each chaining method's result provides.
//
// It asks Kapacitor's own tick.ReflectionDescriber (the object the evaluator uses), so the
// table is what kapacitord v1.8.3 accepts. The emulator's TICKscript validator reads the
// output (emulator/kapacitor_emulator/tick_nodes.json); hack/gen-tick-nodes.sh runs this.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"time"

	"github.com/influxdata/kapacitor/pipeline"
	"github.com/influxdata/kapacitor/tick"
	"github.com/influxdata/kapacitor/tick/ast"
	"github.com/influxdata/kapacitor/tick/stateful"
)

type deadman struct{}

func (deadman) Interval() time.Duration { return time.Second }
func (deadman) Threshold() float64      { return 0 }
func (deadman) Id() string              { return "id" }
func (deadman) Message() string         { return "msg" }
func (deadman) Global() bool            { return false }

// Signature of a callable.
type Signature struct {
	In       []string `json:"in"`
	Variadic bool     `json:"variadic,omitempty"`
	Out      []string `json:"out"`
}

// Chain is a chaining method and, per parent edge, the edge its node provides (or the panic).
type Chain struct {
	Signature
	Provides map[string]string `json:"provides,omitempty"`
}

// Type is one Go type the evaluator may hold. Its chaining methods are named here and
// described once in Table.Chain (a name has the same signature on every type).
type Type struct {
	Node       bool                 `json:"node"`
	Chain      []string             `json:"chain"`
	Properties map[string]Signature `json:"properties"`
	Fields     map[string]string    `json:"fields"`
}

// Table is the program's output.
type Table struct {
	Chain map[string]*Chain `json:"chain"`
	Types map[string]*Type  `json:"types"`
}

var nodeType = reflect.TypeOf((*pipeline.Node)(nil)).Elem()

func signature(t reflect.Type) Signature {
	s := Signature{In: []string{}, Out: []string{}, Variadic: t.IsVariadic()}
	for i := 0; i < t.NumIn(); i++ {
		s.In = append(s.In, t.In(i).String())
	}
	for i := 0; i < t.NumOut(); i++ {
		s.Out = append(s.Out, t.Out(i).String())
	}
	return s
}

func edgeName(e pipeline.EdgeType) string { return e.String() }

// sample returns an argument of type t that the pipeline constructors accept.
func sample(t reflect.Type, parent pipeline.Node) reflect.Value {
	switch t {
	case reflect.TypeOf(""):
		return reflect.ValueOf("x")
	case reflect.TypeOf(int64(0)):
		return reflect.ValueOf(int64(1))
	case reflect.TypeOf(float64(0)):
		return reflect.ValueOf(float64(1))
	case reflect.TypeOf(true):
		return reflect.ValueOf(true)
	case reflect.TypeOf(time.Duration(0)):
		return reflect.ValueOf(time.Second)
	case reflect.TypeOf(&ast.LambdaNode{}):
		return reflect.ValueOf(&ast.LambdaNode{Expression: &ast.BoolNode{Bool: true}})
	case reflect.TypeOf((*interface{})(nil)).Elem():
		return reflect.ValueOf(int64(1)).Convert(t)
	case nodeType:
		return reflect.ValueOf(parent).Convert(t)
	}
	return reflect.Zero(t)
}

func call(fn reflect.Value, parent pipeline.Node) (out interface{}, panicked string) {
	defer func() {
		if r := recover(); r != nil {
			panicked = fmt.Sprint(r)
		}
	}()
	t := fn.Type()
	n := t.NumIn()
	if t.IsVariadic() {
		n--
	}
	args := make([]reflect.Value, n)
	for i := range args {
		args[i] = sample(t.In(i), parent)
	}
	res := fn.Call(args)
	if len(res) == 0 || (len(res) == 2 && !res[1].IsNil()) {
		return nil, ""
	}
	return res[0].Interface(), ""
}

// isPipeline reports whether a method returned a pipeline object worth describing.
func isPipeline(out interface{}) bool {
	if out == nil || reflect.TypeOf(out).Kind() != reflect.Ptr || reflect.ValueOf(out).IsNil() {
		return false
	}
	return reflect.TypeOf(out).Elem().PkgPath() == reflect.TypeOf(pipeline.Pipeline{}).PkgPath()
}

type item struct {
	obj  interface{}
	edge string
}

// keys lists a describer map (an unexported field: its keys can be read, not its values).
func keys(v reflect.Value, name string) []string {
	var out []string
	for _, k := range v.FieldByName(name).MapKeys() {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out
}

// method is the callable behind a describer entry: an explicit chain method of a
// PartialDescriber, else the (possibly promoted) method of the object.
func method(obj interface{}, extra map[string]reflect.Value, name string) reflect.Value {
	if m, ok := extra[name]; ok {
		return m
	}
	return methodOf(reflect.ValueOf(obj), name)
}

// methodOf finds an exported method as the describer does: on the value itself, else on
// its embedded fields (a field of the outer type may hide a promoted method, as
// CombineNode.Max hides chainnode.Max).
func methodOf(v reflect.Value, name string) reflect.Value {
	if m := v.MethodByName(name); m.IsValid() {
		return m
	}
	elem := reflect.Indirect(v)
	if elem.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	for i := 0; i < elem.NumField(); i++ {
		if !elem.Type().Field(i).Anonymous {
			continue
		}
		f := elem.Field(i)
		if f.Kind() != reflect.Ptr {
			f = f.Addr()
		}
		if f.IsNil() {
			continue
		}
		// Unexported embedded fields are read-only through reflect: rebuild the pointer.
		f = reflect.NewAt(f.Type().Elem(), f.UnsafePointer())
		if m := methodOf(f, name); m.IsValid() {
			return m
		}
	}
	return reflect.Value{}
}

func main() {
	table := Table{Chain: map[string]*Chain{}, Types: map[string]*Type{}}
	types := table.Types
	seen := map[string]bool{}
	var queue []item
	for _, src := range []struct {
		script string
		edge   pipeline.EdgeType
	}{
		{"stream|from()", pipeline.StreamEdge},
		{"batch|query('SELECT 1 FROM db.rp.m').every(1s)", pipeline.BatchEdge},
	} {
		p, err := pipeline.CreatePipeline(src.script, src.edge, stateful.NewScope(), deadman{}, nil)
		if err != nil {
			panic(err)
		}
		_ = p.Walk(func(n pipeline.Node) error {
			queue = append(queue, item{n, edgeName(n.Provides())})
			return nil
		})
	}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		name := fmt.Sprintf("%T", it.obj)
		key := name + "/" + it.edge
		if seen[key] {
			continue
		}
		seen[key] = true
		var extra map[string]reflect.Value
		if pd, ok := it.obj.(tick.PartialDescriber); ok {
			extra = pd.ChainMethods()
		}
		d, err := tick.NewReflectionDescriber(it.obj, extra)
		if err != nil {
			panic(err)
		}
		dv := reflect.ValueOf(d).Elem()
		t := types[name]
		if t == nil {
			t = &Type{
				Node:       reflect.TypeOf(it.obj).Implements(nodeType),
				Chain:      keys(dv, "chainMethods"),
				Properties: map[string]Signature{},
				Fields:     map[string]string{},
			}
			types[name] = t
			elem := reflect.ValueOf(it.obj).Elem()
			for _, k := range keys(dv, "properties") {
				t.Fields[k] = elem.FieldByName(k).Type().String()
			}
			for _, k := range keys(dv, "propertyMethods") {
				t.Properties[k] = signature(method(it.obj, nil, k).Type())
			}
			for _, k := range t.Chain {
				sig := signature(method(it.obj, extra, k).Type())
				if c, ok := table.Chain[k]; !ok {
					table.Chain[k] = &Chain{Signature: sig, Provides: map[string]string{}}
				} else if !reflect.DeepEqual(c.Signature, sig) {
					panic(fmt.Sprintf("chaining method %s has two signatures", k))
				}
			}
		}
		parent, _ := it.obj.(pipeline.Node)
		for _, k := range keys(dv, "chainMethods") {
			out, panicked := call(method(it.obj, extra, k), parent)
			if panicked != "" {
				table.Chain[k].Provides[it.edge] = "panic: " + panicked
				continue
			}
			if n, ok := out.(pipeline.Node); ok && out != it.obj {
				table.Chain[k].Provides[it.edge] = edgeName(n.Provides())
				queue = append(queue, item{out, edgeName(n.Provides())})
			} else if isPipeline(out) {
				queue = append(queue, item{out, it.edge})
			}
		}
		for _, k := range keys(dv, "propertyMethods") {
			out, _ := call(method(it.obj, nil, k), parent)
			if isPipeline(out) {
				queue = append(queue, item{out, it.edge})
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(table); err != nil {
		panic(err)
	}
}
