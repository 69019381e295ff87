package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The production build (-tags noembedded) must not link text/template or html/template: either
// one defeats the linker's dead-code elimination of msgraph-sdk-go's methods and multiplies the
// binary's size (see DEPENDENCIES.md). The embedded FerretDB brings html/template in, which is
// why production builds leave it out.
func TestProductionBuildLinksNoTemplates(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "noembedded", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	deps := strings.Fields(string(out))
	require.NotContains(t, deps, "text/template")
	require.NotContains(t, deps, "html/template")
	require.NotContains(t, deps, "github.com/FerretDB/FerretDB/ferretdb")
	require.Contains(t, deps, "go.mongodb.org/mongo-driver/v2/mongo")
}
