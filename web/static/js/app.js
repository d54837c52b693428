// Behaviour shared by every page (kept tiny: pages work without it).
// "/" focuses the page's search field, as in most web apps, unless the user is typing somewhere.
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || (ev.target && ev.target.isContentEditable)) return;
  const search = document.querySelector('main input[type="search"]');
  if (search) { ev.preventDefault(); search.focus(); search.select(); }
});
// Moving focus to <main> after the skip link is followed (some browsers keep it on the link).
const skip = document.querySelector(".skip-link");
if (skip) skip.addEventListener("click", () => { const m = document.getElementById("main"); if (m) m.focus(); });
