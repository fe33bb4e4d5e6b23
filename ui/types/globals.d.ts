// What the Tauri shell injects into the page (`app.withGlobalTauri`), as far as ui/js uses it.
// Results and payloads are typed where they are used, with the generated ../js/types.d.ts.

interface TauriGlobal {
  core: {
    invoke(cmd: string, args?: Record<string, unknown>): Promise<any>;
  };
  event: {
    listen(name: string, handler: (event: { payload: any }) => void): Promise<() => void>;
  };
}

interface Window {
  __TAURI__?: TauriGlobal;
}
