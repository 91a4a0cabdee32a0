// Click a table header to sort by that column (numbers as numbers).
document.querySelectorAll("table").forEach(function (t) {
  t.querySelectorAll("th").forEach(function (th, i) {
    th.addEventListener("click", function () {
      var body = t.tBodies[0], rows = Array.from(body.rows);
      var dir = th.dataset.dir === "asc" ? -1 : 1;
      th.dataset.dir = dir === 1 ? "asc" : "desc";
      var key = function (r) {
        var s = r.cells[i] ? r.cells[i].textContent.trim() : "";
        var n = parseFloat(s.replace(/,/g, ""));
        return isNaN(n) || !/^-?[\d,.]+( ?%| d)?$/.test(s) ? s : n;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === typeof y) return (x < y ? -1 : x > y ? 1 : 0) * dir;
        return (typeof x === "number" ? -1 : 1) * dir;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
