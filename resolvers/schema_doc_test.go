package resolvers

import (
	"strings"
	"testing"

	"github.com/teamaccess/teamaccess/graph"
)

// Every type and field of the API has a description: the schema is the
// documentation partners read in GraphiQL.
func TestEverySchemaElementIsDescribed(t *testing.T) {
	s := graph.NewExecutableSchema(graph.Config{Resolvers: &Resolver{}}).Schema()
	var missing []string
	for name, def := range s.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if strings.TrimSpace(def.Description) == "" && name != "Query" && name != "Mutation" && name != "Subscription" {
			missing = append(missing, "type "+name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if strings.TrimSpace(f.Description) == "" {
				missing = append(missing, name+"."+f.Name)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d without a description:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}
