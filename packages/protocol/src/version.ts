/** The wire protocol version this package speaks. A client sends it in `hello`; the server answers with the same number or closes with `CloseCode.UNSUPPORTED_VERSION`. */
export const PROTOCOL_VERSION = 1;

/** Every version a server built from this package accepts. */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];
