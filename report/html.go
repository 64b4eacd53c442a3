package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"html/template"

	"github.com/asvp-dev/asvp/simulate"
)

// htmlPage is a self-contained page: styles inline, plots as data URIs,
// no scripts, no external references. The plots take the text column's
// full width (up to their 1440 px); a table wider than the window scrolls
// in its own box rather than the page sideways.
var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>asvp simulation {{.Name}}</title>
<style>
body { font-family: sans-serif; margin: 16px 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px 0; }
h2 { font-size: 18px; margin-top: 28px; }
p.settings { font-size: 13px; margin: 2px 0; }
figure { margin: 8px 0 16px 0; max-width: 1440px; }
figure img { width: 100%; height: auto; box-sizing: border-box; border: 1px solid #ddd; display: block; }
figcaption { font-size: 12px; color: #555; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 16px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child, td.text, th.text { text-align: left; }
p.caption { font-size: 13px; font-weight: bold; margin: 12px 0 0 0; }
div.scroll { overflow-x: auto; max-width: 100%; }
</style>
</head>
<body>
<h1>Active learning simulation report</h1>
{{range .Figures}}<figure id="{{.Name}}">{{.Img}}<figcaption>{{.Title}} ({{.Name}}.png, {{.Name}}.svg)</figcaption></figure>
{{end}}
{{range .Settings}}<p class="settings">{{.}}</p>
{{end}}
<h2>Summary</h2>
{{template "table" .Summary}}
<p class="settings">Equivalent saving against a baseline at the same accuracy: (labels the baseline needs - labels used) x price per label - (compute cost - the baseline's compute cost); positive means cheaper. SSR: (n_random(acc) - n) / n_random(acc); n/a where the accuracy is outside random's range.</p>
<h2>Per budget</h2>
{{range .Budgets}}{{template "table" .}}{{end}}
{{if .Indicator.Rows}}<h2>asvp indicator log</h2>
{{template "table" .Indicator}}{{end}}
</body>
</html>
{{define "table"}}{{if .Caption}}<p class="caption">{{.Caption}}</p>
{{end}}<div class="scroll"><table>
<tr>{{range $i, $h := .Head}}<th{{if $.IsText $i}} class="text"{{end}}>{{$h}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if $.IsText $i}} class="text"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table></div>
{{end}}`))

type htmlFigure struct {
	Name, Title string
	Img         template.HTML
}

func htmlReport(res *simulate.Results, sum *simulate.Summary, figs []figure) ([]byte, error) {
	summary, budgets, ind := tables(res, sum)
	data := struct {
		Name      string
		Settings  []string
		Figures   []htmlFigure
		Summary   table
		Budgets   []table
		Indicator table
	}{Name: res.Name, Settings: settingsLines(res, sum), Summary: summary, Budgets: budgets, Indicator: ind}
	for _, f := range figs {
		// Built by hand rather than through the template's attribute escaper,
		// which would write every '+' of the base64 data as an entity: the
		// alt text is escaped, and base64 holds no character that needs it.
		img := template.HTML(`<img alt="` + html.EscapeString(f.Title) + `" src="data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(f.PNG) + `">`)
		data.Figures = append(data.Figures, htmlFigure{Name: f.Name, Title: f.Title, Img: img})
	}
	var b bytes.Buffer
	if err := htmlPage.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("report: report.html: %w", err)
	}
	return b.Bytes(), nil
}
