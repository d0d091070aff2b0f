package coord_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// publicPackages are the importable packages whose exported declarations
// must not name an internal package, so that code outside the module can
// use them; coord must not alias another package's type either.
var publicPackages = []string{"coord", "mdfile", "pagebuf", "pfile", "pfile/chunkindex", "collective", "vfs"}

func TestPublicSurface(t *testing.T) {
	for _, pkg := range publicPackages {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			internal := map[string]string{} // import name -> path
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !strings.Contains(p, "/internal/") {
					continue
				}
				name := p[strings.LastIndex(p, "/")+1:]
				if imp.Name != nil {
					name = imp.Name.Name
				}
				internal[name] = p
			}
			names := func(what string, n ast.Node) {
				ast.Inspect(n, func(n ast.Node) bool {
					if sel, ok := n.(*ast.SelectorExpr); ok {
						if x, ok := sel.X.(*ast.Ident); ok && internal[x.Name] != "" {
							t.Errorf("%s: %s names %s.%s of %s", fset.Position(sel.Pos()), what, x.Name, sel.Sel.Name, internal[x.Name])
						}
					}
					return true
				})
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
						continue
					}
					names("exported func "+d.Name.Name, d.Type)
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.TypeSpec:
							if !s.Name.IsExported() {
								continue
							}
							if pkg == "coord" && s.Assign != 0 {
								t.Errorf("%s: coord.%s is an alias", fset.Position(s.Pos()), s.Name.Name)
							}
							exportedParts(s.Type, func(n ast.Node) { names("exported type "+s.Name.Name, n) })
						case *ast.ValueSpec:
							if s.Type != nil && s.Names[0].IsExported() {
								names("exported "+s.Names[0].Name, s.Type)
							}
						}
					}
				}
			}
		}
	}
}

// exportedRecv reports whether a method's receiver type is exported.
func exportedRecv(recv *ast.FieldList) bool {
	t := recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}

// exportedParts calls fn with what a type shows to other packages: the
// types of its exported fields and methods, or the type itself.
func exportedParts(t ast.Expr, fn func(ast.Node)) {
	var fields *ast.FieldList
	switch t := t.(type) {
	case *ast.StructType:
		fields = t.Fields
	case *ast.InterfaceType:
		fields = t.Methods
	default:
		fn(t)
		return
	}
	for _, f := range fields.List {
		if len(f.Names) == 0 || f.Names[0].IsExported() {
			fn(f.Type)
		}
	}
}
