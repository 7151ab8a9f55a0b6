package cli

import (
	"html/template"
	"io"
	"strings"
)

// writeReportHTML writes the report as one self-contained page: inline CSS, no
// scripts, no external assets, so it reads offline, prints, and can be archived as
// evidence. html/template escapes every value taken from the store.
func writeReportHTML(w io.Writer, r *reportJSON) error {
	return reportHTML.Execute(w, r)
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"join":  strings.Join,
	"or":    cellOr,
	"onoff": onOff,
	"inc":   func(i int) int { return i + 1 },
}).Parse(reportHTMLText))

const reportHTMLText = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence report: {{.Organization}} ({{.Tenant}})</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 2em auto; max-width: 1200px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 2px solid #d0d7de; padding-bottom: .2em; }
table { border-collapse: collapse; width: 100%; margin-top: .5em; }
th, td { border: 1px solid #d0d7de; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
code { font: 12px ui-monospace, "SFMono-Regular", Menlo, monospace; word-break: break-all; }
.meta td:first-child { font-weight: 600; width: 12em; background: #f8f9fa; }
.warn { background: #fff4ce; border: 1px solid #d4a72c; padding: .6em; margin: 1em 0; }
.ok { color: #1a7f37; }
.refused { color: #cf222e; }
.muted { color: #57606a; }
ol.path { margin: 0; padding-left: 1.4em; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } }
</style>
</head>
<body>
<h1>Evidence report: {{.Organization}}</h1>
<table class="meta">
<tr><td>Tenant</td><td>{{.Tenant}}</td></tr>
<tr><td>Organisation</td><td><code>{{.Organization}}</code> and the {{.Summary.Objects}} objects of its subtree</td></tr>
<tr><td>Period</td><td>{{or .Since "the start"}} to {{.Until}}</td></tr>
<tr><td>Generated</td><td>{{.GeneratedAt}}</td></tr>
<tr><td>Revision token</td><td><code>{{.Token}}</code></td></tr>
<tr><td>Decision log</td><td>{{onoff .DecisionLogEnabled}}</td></tr>
<tr><td>Completeness</td><td>{{if .Truncated}}<span class="refused">incomplete: {{join .Truncated ", "}} cut at the server's bound</span>{{else}}<span class="ok">complete</span>{{end}}</td></tr>
</table>
{{if .Truncated}}<p class="warn">Some sections were cut at the server's bound: {{join .Truncated ", "}}. Narrow the report with --permission or a shorter period.</p>{{end}}
<p>{{.Summary.Grants}} relationships in force, {{.Summary.Holders}} holders with {{.Summary.Access}} permissions, {{.Summary.Changes}} changes and {{.Summary.Decisions}} logged decisions in the period.</p>

<h2 id="access">Who holds which access</h2>
{{if .Access}}<table>
<tr><th>Subject</th><th>Permission</th><th>Resource</th><th>Result</th><th>Path (from the resource to the subject) and who granted each step</th></tr>
{{range .Access}}<tr><td><code>{{.Subject}}</code></td><td>{{.Permission}}</td><td><code>{{.Resource}}</code></td><td>{{.Result}}</td><td><ol class="path">{{range .Path}}<li>{{template "grant" .}}</li>{{end}}</ol></td></tr>
{{end}}</table>{{else}}<p class="muted">No subject holds a permission inside the subtree.</p>{{end}}

<h2 id="grants">Relationships in force</h2>
{{if .Grants}}<table>
<tr><th>Relationship</th><th>Expires</th><th>Granted by</th><th>Written</th><th>Key</th><th>On behalf of</th><th>Rule</th><th>Via</th><th>Reason</th></tr>
{{range .Grants}}<tr><td><code>{{.Relationship.Text}}</code></td><td>{{or .Relationship.ExpiresAt "never"}}</td><td>{{or .Relationship.GrantedBy "-"}}{{if .Relationship.GrantedVia}} via {{.Relationship.GrantedVia}}{{end}}</td>
{{with .Provenance}}<td>{{.CommittedAt}}</td><td>{{or .Principal "-"}}</td><td>{{or .Actor "-"}}</td><td>{{or .Rule "-"}}</td><td>{{or .Via "-"}}</td><td>{{or .Reason "-"}}{{if .AccessRequest}} (request {{.AccessRequest}}){{end}}</td>{{else}}<td colspan="6" class="muted">written before the audit trail's retention</td>{{end}}</tr>
{{end}}</table>{{else}}<p class="muted">No relationship is in force inside the subtree.</p>{{end}}

<h2 id="changes">What changed in the period</h2>
{{if .Changes}}<table>
<tr><th>Committed</th><th>Operation</th><th>Key</th><th>On behalf of</th><th>Reason</th><th>Changes</th></tr>
{{range .Changes}}<tr><td>{{.CommittedAt}}<br><code class="muted">{{.Token}}</code></td><td>{{or .Operation "-"}}</td><td>{{or .Principal "-"}}</td><td>{{or .Actor "-"}}</td><td>{{or .Reason "-"}}</td><td>
{{if .Denied}}<div class="refused">refused: {{.Denied.Message}}</div><ul>{{range .Denied.Updates}}<li>attempted {{.Operation}} <code>{{.Relationship.Text}}</code></li>{{end}}</ul>{{end}}
{{if .Changes}}<ul>{{range .Changes}}<li>{{.Kind}} <code>{{.Relationship.Text}}</code></li>{{end}}</ul>{{end}}
{{if .Grants}}<div class="muted">{{range .Grants}}rule “{{.Rule}}”{{if .Via}} via {{.Via}}{{end}} for <code>{{.Relationship.Text}}</code><br>{{end}}</div>{{end}}
</td></tr>
{{end}}</table>{{else}}<p class="muted">Nothing changed inside the subtree in the period.</p>{{end}}

<h2 id="decisions">Logged decisions in the period</h2>
{{if not .DecisionLogEnabled}}<p class="muted">The server runs without the decision log, so no decisions were recorded.</p>
{{else if .Decisions}}<table>
<tr><th>Decided</th><th>Operation</th><th>Key</th><th>Subject</th><th>Permission</th><th>Resource</th><th>Result</th><th>Granting path</th></tr>
{{range .Decisions}}<tr><td>{{.DecidedAt}}</td><td>{{.Operation}}</td><td>{{or .Principal "-"}}</td><td><code>{{.Subject}}</code></td><td>{{.Permission}}</td><td><code>{{.Resource}}</code></td><td>{{.Result}}</td><td>{{range .Path}}<code>{{.}}</code><br>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No decision on the subtree was logged in the period.</p>{{end}}

<h2 id="objects">Objects in the subtree</h2>
<p>{{range $i, $o := .Objects}}{{if $i}}, {{end}}<code>{{$o}}</code>{{end}}</p>
<p class="muted">Generated by Pemba. The revision token names the snapshot every section was read at.</p>
</body>
</html>
{{define "grant"}}<code>{{.Relationship.Text}}</code>{{with .Provenance}}<br><span class="muted">written {{.CommittedAt}} by key {{or .Principal "-"}}{{if .Actor}} on behalf of {{.Actor}}{{end}}{{if .Rule}}, rule “{{.Rule}}”{{end}}{{if .Via}} via {{.Via}}{{end}}{{if .Reason}}, reason “{{.Reason}}”{{end}}{{if .AccessRequest}}, request {{.AccessRequest}}{{end}}</span>{{else}}<br><span class="muted">written before the audit trail's retention</span>{{end}}{{end}}`
