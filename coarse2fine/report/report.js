// The report page's behaviour (inlined into report.html by html.py): search, filter by coarse
// class, sort, collapse, a category's rows on click, and map points that hide with the search.
// State lives in the URL's #fragment (q, coarse, sort, cat): a view can be shared, and the
// tests open one in headless Chromium.
(() => {
  // D: {coarse: [names], cats: [{id, name}], rows: [[text, category index, coarse index]]}
  const D = JSON.parse(document.getElementById("c2f-data").textContent);
  const $ = (s) => document.querySelector(s);
  const $$ = (s) => [...document.querySelectorAll(s)];
  const state = Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
  const search = $("#search");
  const coarseFilter = $("#coarse-filter");
  const sortBy = $("#sort");
  search.value = state.q || "";
  coarseFilter.value = state.coarse || "";
  sortBy.value = state.sort || "size";

  const lower = (t) => String(t).toLowerCase();
  const escape = (t) => {
    const span = document.createElement("span");
    span.textContent = t;
    return span.innerHTML;
  };
  const rowsOf = {}; // category id -> its rows' indices
  D.cats.forEach((c) => (rowsOf[c.id] = []));
  D.rows.forEach((r, i) => rowsOf[D.cats[r[1]].id].push(i));

  function compare(sort) {
    if (sort === "name") {
      return (a, b) => a.cells[1].textContent.localeCompare(b.cells[1].textContent);
    }
    if (sort === "purity") {
      return (a, b) => (+b.dataset.purity || 0) - (+a.dataset.purity || 0);
    }
    return (a, b) => +b.dataset.size - +a.dataset.size;
  }

  function filterTables(term, coarse, sort, hitCategories) {
    $$("details.coarse").forEach((details) => {
      const shown = !coarse || details.dataset.coarse === coarse;
      details.hidden = !shown;
      const body = details.querySelector("tbody");
      const rows = [...body.querySelectorAll("tr.cat")].sort(compare(sort));
      rows.forEach((tr) => body.appendChild(tr));
      let any = false;
      rows.forEach((tr) => {
        const ok =
          !term || lower(tr.textContent).includes(term) || hitCategories.has(tr.dataset.cat);
        tr.hidden = !ok;
        any = any || ok;
      });
      if (term && shown) details.open = any;
    });
  }

  function listMatches(term, coarse, hits) {
    const list = $("#matches");
    list.innerHTML = "";
    if (!term) {
      $("#match-count").textContent = "";
      return;
    }
    const shown = hits.filter((i) => !coarse || D.coarse[D.rows[i][2]] === coarse);
    $("#match-count").textContent = shown.length + " rows match";
    const pattern = new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
    shown.slice(0, 200).forEach((i) => {
      const [text, cat] = D.rows[i];
      const item = document.createElement("li");
      const marked = escape(text).replace(pattern, (x) => "<mark>" + x + "</mark>");
      const where = escape(D.cats[cat].id + " " + D.cats[cat].name);
      item.innerHTML = marked + " <span class=muted>" + where + "</span>";
      list.appendChild(item);
    });
  }

  function filterMap(term, coarse) {
    $$("#map-points circle").forEach((point) => {
      const [text, , coarseIndex] = D.rows[+point.dataset.row];
      const hidden =
        (coarse && D.coarse[coarseIndex] !== coarse) || (term && !lower(text).includes(term));
      point.style.display = hidden ? "none" : "";
    });
  }

  function showCategory(id) {
    const box = $("#rows");
    $$("tr.cat").forEach((tr) => tr.classList.toggle("chosen", tr.dataset.cat === id));
    if (!id || !(id in rowsOf)) {
      box.hidden = true;
      return;
    }
    const cat = D.cats.find((c) => c.id === id);
    box.hidden = false;
    $("#rows-title").textContent =
      cat.id + " \u2014 " + cat.name + " (" + rowsOf[id].length + " rows)";
    $("#rows-list").innerHTML = rowsOf[id]
      .map((i) => "<li>" + escape(D.rows[i][0]) + "</li>")
      .join("");
  }

  function apply() {
    const term = lower(search.value.trim());
    const coarse = coarseFilter.value;
    const sort = sortBy.value;
    const hits = [];
    if (term) D.rows.forEach((r, i) => lower(r[0]).includes(term) && hits.push(i));
    const hitCategories = new Set(hits.map((i) => D.cats[D.rows[i][1]].id));
    filterTables(term, coarse, sort, hitCategories);
    listMatches(term, coarse, hits);
    filterMap(term, coarse);
    showCategory(state.cat);
    const hash = new URLSearchParams();
    if (search.value) hash.set("q", search.value);
    if (coarse) hash.set("coarse", coarse);
    if (sort !== "size") hash.set("sort", sort);
    if (state.cat) hash.set("cat", state.cat);
    history.replaceState(null, "", "#" + hash.toString());
  }

  $$("tr.cat").forEach((tr) =>
    tr.addEventListener("click", () => {
      state.cat = tr.dataset.cat;
      apply();
      $("#rows").scrollIntoView({ block: "nearest" });
    })
  );
  $("#expand").onclick = () => $$("details.coarse").forEach((d) => (d.open = true));
  $("#collapse").onclick = () => $$("details.coarse").forEach((d) => (d.open = false));
  search.oninput = coarseFilter.onchange = sortBy.onchange = apply;
  apply();
})();
