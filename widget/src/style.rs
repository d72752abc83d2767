//! The form's default look. It is adopted by the shadow root, so the host page's CSS cannot reach in; the
//! page themes the form through the CSS custom properties documented in the README.

/// The stylesheet. Typography is set on the form's own root inside the shadow tree, not on `:host`: the
/// host is the page's element, so a page rule like `*{font-size:1px!important}` wins there and would be
/// inherited. Custom properties still inherit through the host, which is how theming works.
pub const CSS: &str = ":host{all:initial;display:block}\
*{box-sizing:border-box}\
[hidden]{display:none!important}\
.lg,.lg-form{display:grid;gap:14px}\
.lg{font-family:var(--lg-font,system-ui,-apple-system,'Segoe UI',Roboto,sans-serif);color:var(--lg-text,#1f1f1f);line-height:1.45;font-size:var(--lg-font-size,16px);text-align:start;max-width:32rem;padding:20px;background:var(--lg-bg,#fff);border:1px solid var(--lg-border,#c4c7c5);border-radius:var(--lg-radius,10px)}\
h2{margin:0;font-size:1.25em}\
.f{display:grid;gap:4px}\
label{font-weight:600}\
.o{font-weight:400;color:var(--lg-muted,#474747)}\
input:not([type=checkbox]),select,textarea{display:block;width:100%;font:inherit;color:inherit;padding:10px 12px;border:1px solid var(--lg-border-strong,#747775);border-radius:calc(var(--lg-radius,10px)*.6);background:#fff}\
textarea{min-height:6em}\
.c{display:grid;grid-template-columns:auto 1fr;gap:4px 10px;align-items:start}\
.c label{font-weight:400}\
.c .e{grid-column:2}\
input[type=checkbox]{display:inline-block;width:20px;height:20px;margin:2px 0 0;accent-color:var(--lg-accent,#0b57d0)}\
[aria-invalid=true]{border-color:var(--lg-error,#b3261e)!important;outline-color:var(--lg-error,#b3261e)}\
.e{color:var(--lg-error,#b3261e);font-size:.9em;margin:0}\
.e:empty{display:none}\
button{font:inherit;font-weight:600;padding:12px 18px;border:0;border-radius:calc(var(--lg-radius,10px)*.6);background:var(--lg-accent,#0b57d0);color:var(--lg-on-accent,#fff);cursor:pointer}\
button[disabled]{opacity:.7;cursor:progress}\
:focus-visible{outline:3px solid var(--lg-accent,#0b57d0);outline-offset:2px}\
a{color:var(--lg-accent,#0b57d0)}\
.n,.g{margin:0;font-size:.9em;color:var(--lg-muted,#474747)}\
.s{margin:0}\
.s:empty{display:none}\
.s.err{color:var(--lg-error,#b3261e)}\
.h{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}";
