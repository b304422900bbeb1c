# Windows twin of build.sh: build | test | run | publish | native. Idempotent.
# The pinned native package is @node-llama-cpp/win-x64@3.22.1 (same llama.cpp as linux-x64@3.22.1).
param([Parameter(Position = 0)][string]$Command = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$Root = $PSScriptRoot
$NativePackage = "@node-llama-cpp/win-x64"
$NativeVersion = "3.22.1"
# Not yet published on the npm registry as of 2026-11 (latest win-x64 is 3.21.1, built from llama.cpp v0.4.0 whose
# struct layouts differ from the v0.5.0 headers we bind). Fill in the sha256 once the package exists and is checked.
$NativeSha256 = ""
$NativeDir = Join-Path $Root "native/llama.cpp"
$Config = if ($env:CONFIG) { $env:CONFIG } else { "Release" }

function Die([string]$Message) { Write-Error "build.ps1: $Message"; exit 1 }
function Need([string]$Tool, [string]$Hint) { if (-not (Get-Command $Tool -ErrorAction SilentlyContinue)) { Die "$Tool not found on PATH: $Hint" } }

function Ensure-Native {
    $stamp = Join-Path $NativeDir ".pinned"
    $want = "$NativePackage@$NativeVersion $NativeSha256"
    if ((Test-Path $stamp) -and ((Get-Content $stamp -Raw).Trim() -eq $want) -and (Test-Path (Join-Path $NativeDir "bins/win-x64/llama.dll"))) { return }
    Need npm "install Node.js and npm to download the pinned llama.cpp libraries"
    $cache = Join-Path $Root "native/.cache"
    New-Item -ItemType Directory -Force $cache | Out-Null
    $tarball = Join-Path $cache "node-llama-cpp-win-x64-$NativeVersion.tgz"
    if (-not (Test-Path $tarball)) {
        Push-Location $cache
        npm pack --silent "$NativePackage@$NativeVersion" | Out-Null
        $packed = $LASTEXITCODE
        Pop-Location
        if ($packed -ne 0) { Die "npm pack $NativePackage@$NativeVersion failed: the package may not be published yet (see the note in build.ps1)" }
    }
    if (-not $NativeSha256) { Remove-Item $tarball; Die "no sha256 is pinned for $NativePackage@$NativeVersion yet; refusing an unverified download" }
    $actual = (Get-FileHash -Algorithm SHA256 $tarball).Hash.ToLowerInvariant()
    if ($actual -ne $NativeSha256) { Remove-Item $tarball; Die "checksum mismatch for $NativePackage@${NativeVersion}: expected $NativeSha256, got $actual (the download was removed)" }
    if (Test-Path $NativeDir) { Remove-Item -Recurse -Force $NativeDir }
    New-Item -ItemType Directory -Force $NativeDir | Out-Null
    tar -xzf $tarball -C $NativeDir --strip-components=1
    if ($LASTEXITCODE -ne 0) { Die "could not unpack $tarball" }
    Set-Content -Path $stamp -Value $want
}

function Build {
    Need dotnet "install the .NET 10 SDK"
    Ensure-Native
    dotnet build (Join-Path $Root "MultiagentNative.sln") -c $Config -nologo -v quiet -clp:ErrorsOnly
    if ($LASTEXITCODE -ne 0) { Die "dotnet build failed" }
}

switch ($Command) {
    "build" { Build }
    "native" { Ensure-Native }
    "test" {
        Build
        & (Join-Path $Root "tests/MultiagentNative.Tests/bin/$Config/net10.0/MultiagentNative.Tests.exe") --timeout 40m @Rest
        exit $LASTEXITCODE
    }
    "run" {
        Build
        dotnet (Join-Path $Root "src/Mafn/bin/$Config/net10.0/mafn.dll") @Rest
        exit $LASTEXITCODE
    }
    "publish" {
        Need dotnet "install the .NET 10 SDK"
        Ensure-Native
        dotnet publish src/Mafn/Mafn.csproj -c Release -r win-x64 --self-contained -o publish/mafn -nologo -v quiet
        dotnet publish tests/MultiagentNative.Tests/MultiagentNative.Tests.csproj -c Release -r win-x64 --self-contained -o publish/tests -nologo -v quiet
    }
    default { Die "unknown command '$Command' (build, test, run, publish, native)" }
}
