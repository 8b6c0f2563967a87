// Paste a clip: a video file on the clipboard (copied in a file manager or a chat app) is put
// into the clip form and sent, as if chosen with the file picker. Without JavaScript the page
// works the same with the picker alone.
(function () {
  "use strict";
  var input = document.getElementById("clip");
  if (!input || typeof DataTransfer === "undefined") return;
  var hint = document.querySelector(".paste-hint");
  if (hint) hint.hidden = false;
  document.addEventListener("paste", function (event) {
    var files = event.clipboardData ? event.clipboardData.files : null;
    if (!files || !files.length) return;
    var file = files[0];
    if (!/^video\//.test(file.type) && !/\.(mp4|mov|webm|mkv)$/i.test(file.name)) return;
    event.preventDefault();
    var dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    input.form.requestSubmit();
  });
})();
