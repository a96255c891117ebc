{
  description = "Customer Management Service: dev shell with Node 24, PostgreSQL, NATS, k6 and Deno";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.nodejs_24 pkgs.postgresql_16 pkgs.nats-server pkgs.k6 pkgs.deno ];
          shellHook = ''
            echo "node $(node --version), postgres $(postgres --version | cut -d' ' -f3), nats-server $(nats-server --version)"
            echo "start services: pg_ctl -D .data/pg init && pg_ctl -D .data/pg start; nats-server -js -sd .data/nats &"
          '';
        };
      });
    };
}
