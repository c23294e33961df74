/** Name announced at discovery as the support library. */
export const SDK_NAME = "@cairn/sdk";
/** Version announced at discovery; kept in step with package.json by hand. */
export const SDK_VERSION = "0.1.0";
