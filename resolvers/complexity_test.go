package resolvers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/teamaccess/teamaccess/graph"
)

// Every list and connection field of the schema, and every root field, has a cost: a field
// added without one would let a request multiply store queries past the limit.
func TestEveryListIsCosted(t *testing.T) {
	cfg := New(&Resolver{})
	schema := graph.NewExecutableSchema(cfg).Schema()
	root := reflect.ValueOf(cfg.Complexity)
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") {
			continue
		}
		typ := fieldByName(root, def.Name)
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			named := schema.Types[f.Type.Name()]
			list := f.Type.Elem != nil
			conn := strings.HasSuffix(f.Type.Name(), "Connection")
			rootField := def.Name == "Query" || def.Name == "Subscription"
			storeObject := named != nil && named.Kind == ast.Object && !strings.HasSuffix(f.Type.Name(), "Edge") && list
			if !list && !conn && !rootField && !storeObject {
				continue
			}
			if !typ.IsValid() {
				t.Errorf("%s.%s: no complexity for its type", def.Name, f.Name)
				continue
			}
			fn := fieldByName(typ, f.Name)
			if !fn.IsValid() || fn.IsNil() {
				t.Errorf("%s.%s (%s) has no cost in setComplexity", def.Name, f.Name, f.Type.String())
			}
		}
	}
}

// fieldByName finds a struct field by its GraphQL name (gqlgen capitalises and writes some
// initialisms upper case: apiKeys is APIKeys, ApiKey is APIKey).
func fieldByName(v reflect.Value, name string) reflect.Value {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	for i := range v.NumField() {
		if strings.EqualFold(v.Type().Field(i).Name, name) {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}
