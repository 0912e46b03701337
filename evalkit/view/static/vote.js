// The voting keys of `evalkit vote` on the web page: a key presses its button. A key pressed sooner than
// the form's data-min-view-ms after the pair appeared is ignored, as in the terminal app.
(function () {
  var form = document.getElementById("vote-form");
  if (!form) return;
  var shownAt = Date.now(), minView = Number(form.dataset.minViewMs || 0), sent = false;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || sent) return;
    var button = form.querySelector('button[data-key="' + event.key + '"]');
    if (!button) return;
    if (Date.now() - shownAt < minView) return;
    sent = true;
    event.preventDefault();
    button.click();
  });
})();
