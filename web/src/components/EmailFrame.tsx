/**
 * An email's HTML in an iframe with an empty `sandbox`: no scripts, no forms, no same-origin
 * access to the admin UI (and so to its token), whatever the HTML holds.
 */
export function EmailFrame({
  html,
  title,
  width,
  height = 560,
}: {
  html: string;
  title: string;
  width?: number;
  height?: number;
}) {
  return (
    <div className="frame-wrap" style={width ? { maxWidth: width } : undefined}>
      <iframe
        className="email-frame"
        sandbox=""
        srcDoc={html}
        title={title}
        style={{ height }}
        referrerPolicy="no-referrer"
      />
    </div>
  );
}
