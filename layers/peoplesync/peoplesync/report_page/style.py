"""The page's inline style and its one script (the search filter): no file, font or library fetched."""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#1d2430}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#566}code{background:#f2f4f7;padding:1px 4px;border-radius:3px}
.drawing{overflow-x:auto;border:1px solid #dde3ea;border-radius:6px;background:#fff}
svg.mapping text{font-family:inherit}
.sys-name{font-weight:700;font-size:15px;text-anchor:middle;fill:#1d2430}
.sys-sub{font-size:12px;text-anchor:middle;fill:#566}
.sys-flag{font-size:11px;text-anchor:middle;fill:#8a4b00}
.kind{font-weight:700;font-size:14px;fill:#3c4a5c}
.field-name{font-weight:600;font-size:14px;fill:#1d2430}
.row-rule{stroke:#eef1f4}
.badge rect{fill:#eef2ff;stroke:#b9c4f0}.badge text{font-size:11px;text-anchor:middle;fill:#33408a}
.badge.transform rect{fill:#fff4e0;stroke:#e0a040}.badge.transform text{fill:#8a4b00;font-style:italic}
.cell rect{stroke-width:1.5}.cell text{font-size:11.5px;text-anchor:middle}
.cell.source rect{fill:#1f5fbf;stroke:#1f5fbf}.cell.source text{fill:#fff;font-weight:600}
.cell.target rect{fill:#fff;stroke:#1f5fbf}.cell.target text{fill:#1f3f7f}
.cell.read-only rect{fill:#fafafa;stroke:#9aa5b1;stroke-dasharray:4 3}.cell.read-only text{fill:#667}
.cell.winner rect{stroke:#d48806;stroke-width:3}
.cell.untouched rect{fill:#f6f7f8;stroke:#e3e6ea;stroke-dasharray:2 3}
.cell.untouched text{fill:#aab2bb;font-size:10px;font-style:italic}
.arrow{fill:none;stroke:#1f5fbf;stroke-width:1.6}.arrow.not-written{stroke:#9aa5b1;stroke-dasharray:4 3}
.arrow.two-way{stroke:#d48806;stroke-width:2}
.arrowhead{fill:#1f5fbf}.arrowhead.two{fill:#d48806}
.foot{font-size:12px;fill:#566}
ul.policies{margin:8px 0;padding-left:20px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{border:1px solid #dde3ea;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f2f4f7}td{max-width:520px}
table.systems td:not(:first-child):not(:last-child){text-align:right}
.bad{color:#b42318}.good{color:#067647}
tr.conflict td{background:#fff4e5}tr.same td{color:#667}
.to{color:#1f5fbf}
#search{width:360px;padding:5px 8px;font:inherit}
"""

# Filter the decision rows as one types: each row carries its searchable text (lower case) in data-search.
SCRIPT = """
(function(){
  var box=document.getElementById('search'),shown=document.getElementById('shown');
  var rows=document.querySelectorAll('#decisions tbody tr');
  function filter(){
    var words=box.value.toLowerCase().split(/\\s+/).filter(Boolean),n=0;
    rows.forEach(function(r){
      var text=r.getAttribute('data-search'),ok=words.every(function(w){return text.indexOf(w)>=0;});
      r.style.display=ok?'':'none';if(ok){n++;}
    });
    shown.textContent=n+(n===1?' row':' rows');
  }
  box.addEventListener('input',filter);
})();
"""
